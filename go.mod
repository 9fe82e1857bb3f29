module github.com/memorystreamer/memorystreamer

go 1.26
