package main

import (
	"bytes"
	"encoding/json"
	"io"

	"github.com/hookd-dev/hookd/registry"
)

// field is one key of an orderedObject.
type field struct {
	key   string
	value any
}

// orderedObject is a JSON object that keeps its keys in the order given,
// for output that must list keys in gto's order.
type orderedObject []field

// MarshalJSON writes the object with its keys in order.
func (o orderedObject) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, f := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := json.Marshal(f.key)
		if err != nil {
			return nil, err
		}
		v, err := json.Marshal(f.value)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// writeJSON prints v as gto's --json does, byte for byte.
func writeJSON(w io.Writer, v any) error { return registry.WriteJSON(w, v) }
