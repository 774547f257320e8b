package gcs

import (
	"errors"

	"cloud.google.com/go/storage"

	"github.com/ilovevideoeditor/outputs/provider"
	"github.com/ilovevideoeditor/outputs/provider/internal/googleerr"
)

var _ provider.ErrorClassifier = (*Driver)(nil)

// ClassifyError classifies the errors of the GCS client library and Google's token service.
func (d *Driver) ClassifyError(err error) (provider.Classification, bool) {
	if errors.Is(err, storage.ErrBucketNotExist) {
		return provider.Classified(provider.CodeBucketNotFound, false, ""), true
	}
	return googleerr.Classify(err)
}
