package webhook_test

import (
	"fmt"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func sortOps() cmp.Option {
	return cmpopts.SortSlices(func(a, b map[string]any) bool {
		return fmt.Sprint(a["path"]) < fmt.Sprint(b["path"])
	})
}
