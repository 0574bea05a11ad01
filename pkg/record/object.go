package record

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// Field is one member of an Object.
type Field struct {
	Key   string
	Value json.RawMessage
}

// Object is a JSON object that keeps its members, known or not, in their
// order. Filters such as av-mask use it so that fields and kinds they do not
// know pass through unchanged.
type Object []Field

// ParseObject parses one line holding a JSON object.
func ParseObject(line []byte) (Object, error) {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("invalid json: %w", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, errors.New("invalid record: not a JSON object")
	}
	var obj Object
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("invalid json: %w", err)
		}
		key, _ := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("invalid json at %q: %w", key, err)
		}
		obj = append(obj, Field{Key: key, Value: v})
	}
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("invalid json: %w", err)
	}
	if dec.More() {
		return nil, errors.New("invalid json: data after the object")
	}
	if _, err := dec.Token(); err == nil {
		return nil, errors.New("invalid json: data after the object")
	}
	return obj, nil
}

// Get returns the raw value of key, or nil.
func (o Object) Get(key string) json.RawMessage {
	for _, f := range o {
		if f.Key == key {
			return f.Value
		}
	}
	return nil
}

// Set replaces key's value, or appends it.
func (o *Object) Set(key string, value json.RawMessage) {
	for i := range *o {
		if (*o)[i].Key == key {
			(*o)[i].Value = value
			return
		}
	}
	*o = append(*o, Field{Key: key, Value: value})
}

// AppendJSON appends the object's encoding to dst.
func (o Object) AppendJSON(dst []byte) []byte {
	dst = append(dst, '{')
	for i, f := range o {
		if i > 0 {
			dst = append(dst, ',')
		}
		k, _ := json.Marshal(f.Key)
		dst = append(dst, k...)
		dst = append(dst, ':')
		dst = append(dst, f.Value...)
	}
	return append(dst, '}')
}
