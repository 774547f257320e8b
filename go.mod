module github.com/ilovevideoeditor/outputs

go 1.26.0
