package net

import (
	"slices"
	"strings"
	"testing"
)

func TestMemberNames(t *testing.T) {
	self, members, err := MemberNames("10.0.0.2:7070", "", []string{"10.0.0.1", "h3:7071"}, "7070")
	if err != nil || self != "10.0.0.2:7070" || !slices.Equal(members, []string{"10.0.0.1:7070", "10.0.0.2:7070", "h3:7071"}) {
		t.Fatalf("got %q %q %v", self, members, err)
	}
}

// TestMemberNamesRefusesBadAddresses: a port out of range or no host is
// refused at once, naming the flag and the address.
func TestMemberNamesRefusesBadAddresses(t *testing.T) {
	for _, tc := range []struct {
		listen, advertise string
		peers             []string
		want              string
	}{
		{":7070", "", []string{"h2:99999"}, "--peer h2:99999: port \"99999\""},
		{":7070", "", []string{"h2:0"}, "--peer h2:0"},
		{":7070", "", []string{"h2:http"}, "--peer h2:http"},
		{":7070", "", []string{":7071"}, "names no host"},
		{":99999", "", []string{"h2"}, "--listen :99999"},
		{":0", "", []string{"h2"}, "--listen :0"},
		{":7070", "me:70000", []string{"h2"}, "--advertise me:70000"},
		{"nonsense", "", nil, "--listen \"nonsense\""},
		{":7070", "", []string{"h2", "h2:7070"}, "given twice"},
	} {
		_, _, err := MemberNames(tc.listen, tc.advertise, tc.peers, "7070")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("MemberNames(%q, %q, %q): got %v, want an error saying %q", tc.listen, tc.advertise, tc.peers, err, tc.want)
		}
	}
}
