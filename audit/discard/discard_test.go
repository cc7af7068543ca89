package discard

import (
	"context"
	"testing"

	"github.com/sluicehq/sluice/audit"
	"github.com/sluicehq/sluice/audit/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, storetest.Subject{
		Open: func(t *testing.T) (audit.Store, string) {
			s, err := Driver().Open(context.Background(), URL, audit.StoreOptions{})
			if err != nil {
				t.Fatal(err)
			}
			return s, URL
		},
		Driver:       Driver(),
		KeepsNothing: true,
	})
}

func TestURL(t *testing.T) {
	for url, ok := range map[string]bool{"discard://": true, "discard://x": false} {
		if err := Driver().Check(url); (err == nil) != ok {
			t.Errorf("%q: %v", url, err)
		}
	}
}
