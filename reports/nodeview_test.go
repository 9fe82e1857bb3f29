package reports

import (
	"reflect"
	"testing"
)

func TestMergeNodeViews(t *testing.T) {
	if MergeNodeViews() != nil || MergeNodeViews(nil, nil) != nil {
		t.Error("merging no views returned one")
	}
	a := &NodeView{
		Source: "a", Scrapes: 2, MsgsIn: 10, MsgsOut: 20, Dropped: 1, DroppedBy: map[string]int64{"slow_consumer": 1},
		CPUSeconds: 1, RSSBytes: 100, HeapBytes: 50, ClientSent: 10, ClientReceived: 19, ClientLost: 0,
		Disagree: []string{NodeDropped, NodeMsgsOut},
	}
	b := &NodeView{
		Source: "b", Scrapes: 5, ScrapeErrors: 1, MsgsIn: 11, MsgsOut: 22, DroppedBy: map[string]int64{"retention": 0},
		PluginErrors: 2, CPUSeconds: 0.5, RSSBytes: 200, ClientSent: 10, ClientReceived: 22,
		Disagree: []string{NodeMsgsIn},
	}
	got := MergeNodeViews(a, nil, b)
	want := &NodeView{
		Source: "b", Scrapes: 7, ScrapeErrors: 1, MsgsIn: 21, MsgsOut: 42, Dropped: 1,
		DroppedBy: map[string]int64{"slow_consumer": 1, "retention": 0}, PluginErrors: 2,
		CPUSeconds: 1.5, RSSBytes: 200, HeapBytes: 0, ClientSent: 20, ClientReceived: 41,
		Disagree: []string{NodeMsgsIn, NodeMsgsOut, NodeDropped},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("MergeNodeViews = %+v\nwant %+v", got, want)
	}
	if a.DroppedBy["retention"] != 0 || len(a.DroppedBy) != 1 {
		t.Errorf("merging changed its input: %v", a.DroppedBy)
	}
	one := MergeNodeViews(a)
	if !reflect.DeepEqual(one.Disagree, []string{NodeMsgsOut, NodeDropped}) || one.MsgsIn != 10 {
		t.Errorf("one view merged: %+v", one)
	}
}

func TestNodeViewDisagrees(t *testing.T) {
	var none *NodeView
	v := &NodeView{Disagree: []string{NodeMsgsOut}}
	for _, tc := range []struct {
		v      *NodeView
		figure string
		want   bool
	}{
		{none, NodeMsgsOut, false},
		{v, NodeMsgsOut, true},
		{v, NodeMsgsIn, false},
	} {
		if got := tc.v.Disagrees(tc.figure); got != tc.want {
			t.Errorf("%+v.Disagrees(%q) = %v, want %v", tc.v, tc.figure, got, tc.want)
		}
	}
}
