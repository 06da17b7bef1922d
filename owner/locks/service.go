package locks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/dsmfs/dsmfs/owner"
)

// Server is the node that keeps the cluster's lock table.
const Server owner.NodeID = 0

// ErrBusy is a non-blocking lock request refused for a conflict.
var ErrBusy = errors.New("lock held by another owner")

// ErrServerLost fails lock calls when the connection to the server is gone:
// its table, and every lock in it, went with it.
var ErrServerLost = errors.New("lost the connection to the lock server (node 0)")

// Config describes one node's lock service.
type Config struct {
	Self owner.NodeID
	// Timeout bounds a call that the server answers at once (all but a
	// blocking F_SETLKW, which waits for its ctx).
	Timeout time.Duration
	Logger  *slog.Logger
}

// Service is one node's end of the lock service: the client of its local
// programs' calls and, on Server, the keeper of the table. Register it with
// the node for owner.MsgLockRequest and owner.MsgLockReply.
type Service struct {
	cfg       Config
	transport owner.Transport
	log       *slog.Logger

	mu      sync.Mutex
	table   Table            // guarded by mu; used on Server only
	calls   map[uint64]*call // guarded by mu: requests waiting for replies
	nextTag uint64           // guarded by mu
}

// call is a request waiting for its replies; lost is closed if the server
// goes away first.
type call struct {
	replies chan reply
	lost    chan struct{}
}

// callReplies is more replies than one call ever gets: its answer, the
// grant of a wait it cancelled, and the answer to giving that grant back.
const callReplies = 4

// New returns the lock service of node cfg.Self, which sends through t.
func New(cfg Config, t owner.Transport) *Service {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Service{cfg: cfg, transport: t, log: log, calls: map[uint64]*call{}}
}

// Types are the message types the service takes: register it for these.
var Types = []owner.MsgType{owner.MsgLockRequest, owner.MsgLockReply}

// Receive handles a lock message from a peer.
func (s *Service) Receive(msg owner.Message) error {
	if msg.Type == owner.MsgLockRequest {
		if s.cfg.Self != Server {
			return fmt.Errorf("%v: this node is not the lock server", msg)
		}
		req, err := decodeRequest(msg.Data)
		if err != nil {
			return err
		}
		return s.serve(msg.From, req)
	}
	r, err := decodeReply(msg.Data)
	if err != nil {
		return err
	}
	if tagNode(r.Tag) != s.cfg.Self || msg.From != Server {
		return fmt.Errorf("%v: lock reply not for us or not from the lock server", msg)
	}
	s.answer(r)
	return nil
}

// PeerLost is told that peer is gone for good. On the server, its locks
// go, so that others can take them; elsewhere, if the server is the one
// lost, waiting calls fail instead of waiting forever.
func (s *Service) PeerLost(peer owner.NodeID) {
	if s.cfg.Self == Server {
		s.mu.Lock()
		granted := s.table.Release(func(o Owner) bool { return o.Node == peer })
		s.mu.Unlock()
		for _, r := range grants(granted) {
			s.sendReply(r)
		}
		return
	}
	if peer != Server {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for tag, c := range s.calls {
		close(c.lost)
		delete(s.calls, tag)
	}
}

// Get reports a held lock that would stop l (F_GETLK).
func (s *Service) Get(ctx context.Context, l Lock) (Lock, bool, error) {
	r, err := s.call(ctx, opGet, l)
	return r.Lock, r.Result == busy, err
}

// Set takes, changes or releases l (F_SETLK). With wait it waits for
// conflicting locks to go (F_SETLKW) until ctx ends; without, a conflict
// is ErrBusy.
func (s *Service) Set(ctx context.Context, l Lock, wait bool) error {
	o := opSet
	if wait && l.Type != Unlock {
		o = opWait
	}
	r, err := s.call(ctx, o, l)
	if err == nil && r.Result == busy {
		err = ErrBusy
	}
	return err
}

// Release drops every lock o holds: its file was closed.
func (s *Service) Release(ctx context.Context, o Owner) error {
	_, err := s.call(ctx, opRelease, Lock{Owner: o})
	return err
}

// call sends a request to the server and waits for the answer. A waiting
// request whose ctx ends is cancelled; if the lock was granted in the
// meantime it is released again, so an interrupted program never ends up
// holding it.
func (s *Service) call(ctx context.Context, o op, l Lock) (reply, error) {
	c := &call{replies: make(chan reply, callReplies), lost: make(chan struct{})}
	s.mu.Lock()
	s.nextTag++
	tag := uint64(s.cfg.Self)<<48 | s.nextTag
	s.calls[tag] = c
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.calls, tag)
		s.mu.Unlock()
	}()

	req := request{Op: o, Tag: tag, Lock: l}
	if err := s.toServer(req); err != nil {
		return reply{}, err
	}
	if o != opWait {
		// Answered at once by a live server. A grant that comes after
		// the timeout finds no call and is given back (see answer).
		timer := time.NewTimer(s.cfg.Timeout)
		defer timer.Stop()
		select {
		case r := <-c.replies:
			return r, nil
		case <-c.lost:
			return reply{}, ErrServerLost
		case <-timer.C:
			return reply{}, fmt.Errorf("lock server did not answer in %v", s.cfg.Timeout)
		}
	}
	select {
	case r := <-c.replies:
		return r, nil
	case <-c.lost:
		return reply{}, ErrServerLost
	case <-ctx.Done():
	}
	req.Op = opCancel
	if err := s.toServer(req); err != nil {
		return reply{}, err
	}
	for {
		var r reply
		select {
		case r = <-c.replies:
		case <-c.lost:
			return reply{}, ErrServerLost
		}
		switch r.Result {
		case granted: // granted before the cancel arrived: give it back
			l.Type = Unlock
			if err := s.toServer(request{Op: opSet, Tag: tag, Lock: l}); err != nil {
				return reply{}, err
			}
			select {
			case <-c.replies:
			case <-c.lost:
			}
			return reply{}, ctx.Err()
		case cancelled:
			return reply{}, ctx.Err()
		}
		// notWaiting: the grant is on its way.
	}
}

func (s *Service) toServer(req request) error {
	if s.cfg.Self == Server {
		return s.serve(s.cfg.Self, req)
	}
	return s.transport.Send(owner.Message{Type: owner.MsgLockRequest, From: s.cfg.Self, To: Server, Data: req.encode()})
}

// answer hands a reply to the call waiting for it. It never blocks: it
// runs on a transport goroutine. A grant that no call takes (the call
// timed out, or gave up when its program was interrupted) would leave a
// lock held by nobody: it is given back.
func (s *Service) answer(r reply) {
	s.mu.Lock()
	c := s.calls[r.Tag]
	s.mu.Unlock()
	if c != nil {
		select {
		case c.replies <- r:
			return
		default:
		}
	}
	if r.Result != granted || r.Lock.Type == Unlock {
		s.log.Debug("lock reply for no call", "tag", r.Tag, "result", r.Result)
		return
	}
	s.log.Warn("giving back a lock granted to a call that gave up", "owner", r.Lock.Owner.ID, "start", r.Lock.Start, "end", r.Lock.End)
	back := r.Lock
	back.Type = Unlock
	if err := s.toServer(request{Op: opSet, Tag: r.Tag, Lock: back}); err != nil {
		s.log.Error("cannot give back an unclaimed lock", "err", err)
	}
}
