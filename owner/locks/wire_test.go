package locks

import (
	"testing"

	"github.com/dsmfs/dsmfs/owner"
)

func TestMessagesRoundTrip(t *testing.T) {
	req := request{Op: opWait, Tag: 7<<48 | 3, Lock: Lock{Owner: Owner{Node: 7, ID: 1 << 60, Flock: true}, Type: Write, Start: 4, End: 1 << 62, Pid: 99}}
	got, err := decodeRequest(req.encode())
	if err != nil || got != req {
		t.Fatalf("request round trip: %+v, %v", got, err)
	}
	rep := reply{Tag: req.Tag, Result: busy, Lock: req.Lock}
	if got, err := decodeReply(rep.encode()); err != nil || got != rep {
		t.Fatalf("reply round trip: %+v, %v", got, err)
	}
	noOp, backwards := req, req
	noOp.Op = 0
	backwards.Lock.Start, backwards.Lock.End = 10, 9
	for _, bad := range []request{noOp, backwards} {
		if _, err := decodeRequest(bad.encode()); err == nil {
			t.Fatalf("%+v decoded", bad)
		}
	}
}

// TestPayloadSize: what the service encodes is what owner's payload table
// lets through the transport.
func TestPayloadSize(t *testing.T) {
	for _, b := range [][]byte{request{Op: opGet}.encode(), reply{Result: free}.encode()} {
		if err := owner.CheckPayload(owner.MsgLockRequest, len(b), owner.Dims{}); err != nil {
			t.Fatal(err)
		}
	}
}
