package network

import (
	"testing"

	"floe/internal/rpc/floepb"
)

// TestDeliveryRecycle checks that a recycled delivery lets go of its
// payload (it is back in the pool: nothing may read it through the
// message), and that events without a payload recycle to nothing.
func TestDeliveryRecycle(t *testing.T) {
	d := Delivery{Msg: &floepb.ProducerMessage{Payload: make([]byte, 100, 1024), Records: 1}}
	d.Recycle()
	if d.Msg.Payload != nil {
		t.Fatal("payload still reachable after Recycle")
	}
	e := Delivery{Msg: &floepb.ProducerMessage{Kind: Watermark, Value: 5}}
	e.Recycle()
	if e.Msg.GetValue() != 5 {
		t.Fatal("event changed by Recycle")
	}
}
