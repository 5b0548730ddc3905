package policy

import (
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
)

// TestFirstEvaluationBesideADataWriteDoesNotDeadlock prepares a built-in query for the
// first time inside an open read transaction while a namespace write waits for that
// transaction to end. Preparing in a second read transaction on the same goroutine queued
// behind the writer, and the two waited for each other forever (seen in CI as a hung
// watch test).
func TestFirstEvaluationBesideADataWriteDoesNotDeadlock(t *testing.T) {
	ctx := t.Context()
	e, err := NewEngine(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(e.builtin.sets) < 2 {
		t.Fatalf("%d built-in sets: the test needs a mask that NewEngine did not prepare", len(e.builtin.sets))
	}
	txn, err := e.store.NewTransaction(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wrote := make(chan error, 1)
	go func() { wrote <- e.SetNamespace(ctx, "team", map[string]string{"tier": "app"}) }()
	waitForStack(t, "inmem.(*store).Commit")

	evaluated := make(chan error, 1)
	go func() {
		_, _, err := e.builtin.evaluateSets(ctx, txn, ast.NewObject(), 1) // the first set alone: not prepared yet
		evaluated <- err
	}()
	select {
	case err := <-evaluated:
		if err != nil {
			t.Errorf("evaluating: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("evaluation inside a read transaction is blocked by a queued namespace write: deadlock")
	}
	e.store.Abort(ctx, txn)
	if err := <-wrote; err != nil {
		t.Errorf("namespace write: %v", err)
	}
}

// waitForStack waits until some goroutine's stack contains frame.
func waitForStack(t *testing.T, frame string) {
	t.Helper()
	buf := make([]byte, 1<<20)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if strings.Contains(string(buf[:runtime.Stack(buf, true)]), frame) {
			return
		}
	}
	t.Fatalf("no goroutine reached %s", frame)
}
