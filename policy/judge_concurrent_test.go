package policy_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/projectwarden/warden/policy"
	fx "github.com/projectwarden/warden/policy/fixture"
)

// TestJudgeBesideApply judges a child on several goroutines while it is applied over and
// over, its route alternating between a present and a missing Service: Judge evaluates
// outside the inventory's lock, and every judgement must still return a verdict, valid or
// invalid, without error. Run with -race, it checks that evaluation shares nothing Apply
// writes.
func TestJudgeBesideApply(t *testing.T) {
	root := fx.Proxy("roots", "root").FQDN("app.example.com").Include("team", "child", fx.Prefix("/")).Obj()
	good := fx.Proxy("team", "child").Route("web", 80).Obj()
	bad := fx.Proxy("team", "child").Route("missing", 80).Obj()
	d := newDecider(t, policy.Settings{RootNamespaces: []string{"roots"}}, fx.Namespace("roots"), fx.Namespace("team"),
		fx.Service("team", "web", 80), root, good)
	child := policy.Key{Namespace: "team", Name: "child"}

	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for range 4 {
		wg.Go(func() {
			for range 200 {
				v, err := d.Judge(t.Context(), child)
				switch {
				case err != nil:
					errs <- err
					return
				case v == nil:
					errs <- fmt.Errorf("no verdict on a stored proxy")
					return
				case v.Status.CurrentStatus != "valid" && v.Status.CurrentStatus != "invalid":
					errs <- fmt.Errorf("currentStatus %q", v.Status.CurrentStatus)
					return
				}
			}
		})
	}
	wg.Go(func() {
		for i := range 200 {
			obj := good.DeepCopy()
			if i%2 == 1 {
				obj = bad.DeepCopy()
			}
			obj.Generation = int64(i + 2)
			if err := d.Apply(t.Context(), obj); err != nil {
				errs <- err
				return
			}
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
