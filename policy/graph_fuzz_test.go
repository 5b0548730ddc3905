package policy

import (
	"fmt"
	"testing"

	contourv1 "github.com/projectcontour/contour/apis/projectcontour/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// FuzzGraph builds random include graphs and checks the graph facts against a brute-force
// oracle: a proxy has a cycle exactly when it can reach itself through includes, and a
// non-root is orphaned exactly when no root reaches it.
func FuzzGraph(f *testing.F) {
	f.Add([]byte{3, 0, 1, 1, 2, 2, 0})
	f.Add([]byte{5, 0x80, 1, 1, 2, 2, 3, 3, 1, 4, 4})
	f.Add([]byte{2, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		n := int(data[0]%12) + 1
		edges := map[int][]int{}
		for i := 1; i+1 < len(data); i += 2 {
			from, to := int(data[i]%byte(n)), int(data[i+1]%byte(n))
			edges[from] = append(edges[from], to)
		}
		// Node 0 is a root when the high bit of data[0] is set and no one includes it.
		isRoot := func(i int) bool { return i == 0 && data[0]&0x80 != 0 }
		inv := NewInventory()
		for i := 0; i < n; i++ {
			p := &contourv1.HTTPProxy{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: fmt.Sprint(i), CreationTimestamp: metav1.Unix(int64(i), 0)}}
			if isRoot(i) {
				p.Spec.VirtualHost = &contourv1.VirtualHost{Fqdn: "root.example.com"}
			}
			for _, to := range edges[i] {
				// Distinct prefixes keep sibling includes from being duplicates.
				p.Spec.Includes = append(p.Spec.Includes, contourv1.Include{Name: fmt.Sprint(to), Conditions: []contourv1.MatchCondition{{Prefix: fmt.Sprintf("/%d-%d", len(p.Spec.Includes), to)}}})
			}
			inv.Apply(p)
		}
		reachable := func(from int) map[int]bool { // nodes reachable in >= 1 step
			seen := map[int]bool{}
			stack := append([]int(nil), edges[from]...)
			for len(stack) > 0 {
				x := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				if seen[x] {
					continue
				}
				seen[x] = true
				stack = append(stack, edges[x]...)
			}
			return seen
		}
		// A root's subtree is walked only through non-roots, as includes of roots are errors.
		rootReaches := map[int]bool{}
		if isRoot(0) {
			seen := map[int]bool{}
			stack := append([]int(nil), edges[0]...)
			for len(stack) > 0 {
				x := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				if seen[x] || isRoot(x) {
					continue
				}
				seen[x] = true
				stack = append(stack, edges[x]...)
			}
			rootReaches = seen
		}
		for i := 0; i < n; i++ {
			e := inv.proxy(Key{"ns", fmt.Sprint(i)})
			facts := computeFacts(inv, Settings{}, e)
			onCycle := reachable(i)[i]
			if got := len(facts.Cycles) > 0; got != onCycle {
				t.Fatalf("node %d: cycles %v, brute force says on cycle = %v (edges %v)", i, facts.Cycles, onCycle, edges)
			}
			for _, c := range facts.Cycles {
				if c[0] != e.key || c[len(c)-1] != e.key {
					t.Fatalf("node %d: cycle %v does not start and end at it", i, c)
				}
			}
			if !isRoot(i) && facts.Orphaned == rootReaches[i] {
				t.Fatalf("node %d: orphaned=%v but root reaches it=%v (edges %v)", i, facts.Orphaned, rootReaches[i], edges)
			}
		}
	})
}
