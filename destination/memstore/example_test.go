package memstore_test

import (
	"context"
	"fmt"
	"time"

	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/destination/memstore"
)

func Example() {
	ctx := context.Background()
	s := memstore.New()
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	for i, name := range []string{"archive", "delivery"} {
		_, err := s.Create(ctx, &destination.Integration{
			ID:          fmt.Sprintf("018f0000-0000-7000-8000-00000000000%d", i),
			WorkspaceID: "ws_1",
			Provider:    destination.R2,
			Name:        name,
			IsActive:    true,
			IsDefault:   true, // the second create takes the default from the first
			CreatedAt:   now,
			UpdatedAt:   now,
		})
		if err != nil {
			fmt.Println(err)
			return
		}
	}
	def, _ := s.GetDefault(ctx, "ws_1")
	fmt.Println("default:", def.Name, "version", def.Version)
	all, _ := s.List(ctx, "ws_1")
	for _, in := range all {
		fmt.Println(in.Name, in.IsDefault, in.Version)
	}
	_, err := s.Get(ctx, "ws_2", def.ID)
	fmt.Println(err)
	// Output:
	// default: delivery version 1
	// archive false 2
	// delivery true 1
	// integration not found
}
