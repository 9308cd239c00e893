package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
)

// jsonValue is a decoded JSON value that remembers the order of object
// keys, which encoding/json's maps forget and gto's output defines.
type jsonValue struct {
	keys   []string // object keys in order; nil for non-objects
	fields map[string]*jsonValue
	items  []*jsonValue // array items; nil for non-arrays
	array  bool
	scalar any // string, json.Number, bool or nil
}

func decodeOrdered(data string) (*jsonValue, error) {
	dec := json.NewDecoder(strings.NewReader(data))
	dec.UseNumber()
	v, err := decodeValue(dec)
	if err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, fmt.Errorf("trailing data after JSON value")
	}
	return v, nil
}

func decodeValue(dec *json.Decoder) (*jsonValue, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch tok {
	case json.Delim('{'):
		v := &jsonValue{fields: map[string]*jsonValue{}, keys: []string{}}
		for dec.More() {
			k, err := dec.Token()
			if err != nil {
				return nil, err
			}
			key := k.(string)
			item, err := decodeValue(dec)
			if err != nil {
				return nil, err
			}
			v.keys = append(v.keys, key)
			v.fields[key] = item
		}
		_, err := dec.Token()
		return v, err
	case json.Delim('['):
		v := &jsonValue{array: true, items: []*jsonValue{}}
		for dec.More() {
			item, err := decodeValue(dec)
			if err != nil {
				return nil, err
			}
			v.items = append(v.items, item)
		}
		_, err := dec.Token()
		return v, err
	default:
		return &jsonValue{scalar: tok}, nil
	}
}

// diffJSON compares two JSON documents: values, array order and object key
// order. It returns "" when they are the same, or where they first differ.
func diffJSON(got, want string) string {
	g, err := decodeOrdered(got)
	if err != nil {
		return fmt.Sprintf("got is not JSON: %v\n%s", err, got)
	}
	w, err := decodeOrdered(want)
	if err != nil {
		return fmt.Sprintf("want is not JSON: %v", err)
	}
	return diffValue("$", g, w)
}

func diffValue(path string, g, w *jsonValue) string {
	switch {
	case w.fields != nil:
		if g.fields == nil {
			return fmt.Sprintf("%s: got %s, want an object", path, g)
		}
		if !reflect.DeepEqual(g.keys, w.keys) {
			return fmt.Sprintf("%s: keys\n got %q\nwant %q", path, g.keys, w.keys)
		}
		for _, k := range w.keys {
			if d := diffValue(path+"."+k, g.fields[k], w.fields[k]); d != "" {
				return d
			}
		}
	case w.array:
		if !g.array {
			return fmt.Sprintf("%s: got %s, want an array", path, g)
		}
		if len(g.items) != len(w.items) {
			return fmt.Sprintf("%s: got %d items, want %d\n got %s\nwant %s", path, len(g.items), len(w.items), g, w)
		}
		for i := range w.items {
			if d := diffValue(fmt.Sprintf("%s[%d]", path, i), g.items[i], w.items[i]); d != "" {
				return d
			}
		}
	default:
		if g.fields != nil || g.array || !reflect.DeepEqual(g.scalar, w.scalar) {
			return fmt.Sprintf("%s: got %s, want %s", path, g, w)
		}
	}
	return ""
}

// String re-encodes the value compactly, keys in order, for messages.
func (v *jsonValue) String() string {
	var b bytes.Buffer
	v.write(&b)
	return b.String()
}

func (v *jsonValue) write(b *bytes.Buffer) {
	switch {
	case v.fields != nil:
		b.WriteByte('{')
		for i, k := range v.keys {
			if i > 0 {
				b.WriteString(", ")
			}
			kj, _ := json.Marshal(k)
			b.Write(kj)
			b.WriteString(": ")
			v.fields[k].write(b)
		}
		b.WriteByte('}')
	case v.array:
		b.WriteByte('[')
		for i, item := range v.items {
			if i > 0 {
				b.WriteString(", ")
			}
			item.write(b)
		}
		b.WriteByte(']')
	default:
		sj, _ := json.Marshal(v.scalar)
		b.Write(sj)
	}
}
