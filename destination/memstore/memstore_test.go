package memstore_test

import (
	"testing"

	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/destination/memstore"
	"github.com/ilovevideoeditor/outputs/destination/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(*testing.T) destination.Store { return memstore.New() })
}

func BenchmarkStore(b *testing.B) {
	storetest.Benchmark(b, func(*testing.B) destination.Store { return memstore.New() })
}

func TestDeliveriesConformance(t *testing.T) {
	storetest.RunDeliveries(t, func(*testing.T) destination.DeliveryStore { return memstore.NewDeliveries() })
}
