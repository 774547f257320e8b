package drive

import (
	"github.com/ilovevideoeditor/outputs/provider"
	"github.com/ilovevideoeditor/outputs/provider/internal/googleerr"
)

var _ provider.ErrorClassifier = (*Driver)(nil)

// ClassifyError classifies the errors of the Drive API and Google's token service.
func (d *Driver) ClassifyError(err error) (provider.Classification, bool) {
	return googleerr.Classify(err)
}
