// Package reports will hold msbench's result schema, the Markdown and HTML
// renderings and the statistics that compare runs (issue #4).
package reports
