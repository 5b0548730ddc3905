package server_test

import (
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/projectwarden/warden/webhook/server"
)

// A handler reads the body and answers 413 when it is over the server's limit. Requests that
// declare a larger Content-Length never reach it: the server answers them itself.
func ExampleBodyTooLarge() {
	validate := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if server.BodyTooLarge(err) {
			http.Error(w, "AdmissionReview too large", http.StatusRequestEntityTooLarge)
			return
		}
		if err != nil {
			http.Error(w, "reading AdmissionReview: "+err.Error(), http.StatusBadRequest)
			return
		}
		_ = body // decode, decide, respond
	})
	_ = server.Options{Handlers: map[string]http.Handler{"/validate": validate}}
}

// New binds the port and loads the certificate; Run serves until the context is done.
func ExampleNew() {
	srv, err := server.New(server.Options{
		Port:     server.DefaultPort,
		CertFile: "/etc/warden/tls/tls.crt",
		KeyFile:  "/etc/warden/tls/tls.key",
		Handlers: map[string]http.Handler{"/validate": http.NotFoundHandler()},
		Ready:    func() error { return nil },
		Registry: prometheus.NewRegistry(),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, cancel := context.WithCancel(context.Background()) // cmd/ cancels on SIGTERM
	defer cancel()
	if err := srv.Run(ctx); err != nil {
		fmt.Println(err)
	}
}
