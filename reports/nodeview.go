package reports

import (
	"fmt"
	"maps"
	"slices"
)

// nodeRow is one figure of a NodeView as the summary and the HTML report
// show it: the node's value beside the clients' where they are compared.
type nodeRow struct {
	label   string
	node    string
	clients string // "" for a figure the clients have no counterpart of
	// figure is the compared figure (NodeMsgsIn …), "" for one that is
	// only shown.
	figure string
}

// nodeRows lists v's figures in the order the reports show them; nil for
// a nil view. Figures the node did not report (0 for a gauge) and reasons
// it dropped nothing for are left out.
func nodeRows(v *NodeView) []nodeRow {
	if v == nil {
		return nil
	}
	rows := []nodeRow{
		{"messages in", formatCount(v.MsgsIn), "sent " + formatCount(v.ClientSent), NodeMsgsIn},
		{"deliveries", formatCount(v.MsgsOut), "received " + formatCount(v.ClientReceived), NodeMsgsOut},
		{"dropped", formatCount(v.Dropped), "lost " + formatCount(v.ClientLost), NodeDropped},
	}
	for _, reason := range slices.Sorted(maps.Keys(v.DroppedBy)) {
		if n := v.DroppedBy[reason]; n != 0 {
			rows = append(rows, nodeRow{label: "dropped: " + reason, node: formatCount(n)})
		}
	}
	if v.PluginErrors > 0 {
		rows = append(rows, nodeRow{label: "plugin errors", node: formatCount(v.PluginErrors)})
	}
	if v.CPUSeconds > 0 {
		rows = append(rows, nodeRow{label: "CPU", node: sig3(v.CPUSeconds) + " s"})
	}
	if v.RSSBytes > 0 {
		rows = append(rows, nodeRow{label: "RSS at end", node: FormatBytes(float64(v.RSSBytes))})
	}
	if v.HeapBytes > 0 {
		rows = append(rows, nodeRow{label: "Go heap at end", node: FormatBytes(float64(v.HeapBytes))})
	}
	scrapes := formatCount(v.Scrapes)
	if v.ScrapeErrors > 0 {
		scrapes += fmt.Sprintf(" (%s failed)", formatCount(v.ScrapeErrors))
	}
	return append(rows, nodeRow{label: "scrapes", node: scrapes})
}

// nodeCheck says whether the node and the clients agree on row's figure:
// "" for a figure that is not compared.
func nodeCheck(v *NodeView, row nodeRow) string {
	switch {
	case row.figure == "":
		return ""
	case v.Disagrees(row.figure):
		return "DISAGREE"
	default:
		return "agree"
	}
}

func (s *summary) nodeView(r *Result) {
	v := r.Summary.NodeView
	if v == nil {
		return
	}
	s.section("Node's view")
	var rows [][]string
	for _, row := range nodeRows(v) {
		rows = append(rows, []string{row.label, row.node, row.clients, nodeCheck(v, row)})
	}
	s.table("lrrl", []string{"", "node", "clients", "check"}, rows)
	span := "the whole run (warm-up and drain included)"
	if len(r.Runs) > 1 {
		span = "each repetition's whole run (warm-up and drain included), summed; memory at the end of the last"
	}
	s.printf("\nThe node's metrics over %s, from %s.\n", span, v.Source)
	if len(v.Disagree) > 0 {
		s.strong("WARNING: the node's figures disagree with the clients' (see the warnings)")
	}
}

// nodeViewRows are the rows of the HTML report's node table: every figure
// any run's view has, in nodeRows' order (a figure only some runs have
// comes after the one it follows in the first run that has it), each cell
// the node's value with the clients' under it, red where they disagree.
func nodeViewRows(runs []htmlRun) []rowDef {
	var labels []string
	for _, r := range runs {
		at := 0 // where the run's next new figure goes
		for _, row := range nodeRows(r.r.Summary.NodeView) {
			if i := slices.Index(labels, row.label); i >= 0 {
				at = i + 1
				continue
			}
			labels = slices.Insert(labels, at, row.label)
			at++
		}
	}
	var defs []rowDef
	for _, label := range labels {
		defs = append(defs, rowDef{label, func(r *Result) htmlCell {
			v := r.Summary.NodeView
			i := slices.IndexFunc(nodeRows(v), func(row nodeRow) bool { return row.label == label })
			if i < 0 {
				return htmlCell{}
			}
			row := nodeRows(v)[i]
			c := htmlCell{Text: row.node, Note: row.clients}
			if v.Disagrees(row.figure) {
				c.Note += " (disagree)"
				c.Class = "fail"
			}
			return c
		}})
	}
	if len(defs) > 0 {
		defs = append(defs, rowDef{"measured from", func(r *Result) htmlCell {
			if v := r.Summary.NodeView; v != nil {
				return htmlCell{Text: v.Source}
			}
			return htmlCell{}
		}})
	}
	return defs
}
