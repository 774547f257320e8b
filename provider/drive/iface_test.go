package drive_test

import (
	"github.com/ilovevideoeditor/outputs/provider"
	"github.com/ilovevideoeditor/outputs/provider/drive"
)

// Driver plugs into the provider package.
var _ provider.Driver = (*drive.Driver)(nil)
