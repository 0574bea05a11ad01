package record

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"sync"
)

// Field names are one definition for every stage: encoding/json matches
// them case-insensitively, so "Content" would fill Content while av-mask,
// which masks fields by name, might not have seen it as content. A name that
// differs from a field's only by case is refused instead of guessed.

var fieldNames sync.Map // reflect.Type -> map[string]fieldInfo

type fieldInfo struct {
	name string
	typ  reflect.Type // a struct type whose members are checked too, or nil
}

func namesOf(t reflect.Type) map[string]fieldInfo {
	if v, ok := fieldNames.Load(t); ok {
		return v.(map[string]fieldInfo)
	}
	m := map[string]fieldInfo{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		info := fieldInfo{name: name}
		if ft.Kind() == reflect.Struct {
			info.typ = ft
		}
		m[strings.ToLower(name)] = info
	}
	fieldNames.Store(t, m)
	return m
}

// checkNames refuses object members whose names match a field of t only by
// case, in the object and in the objects of its struct-typed fields.
func checkNames(b []byte, t reflect.Type) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil
	}
	names := namesOf(t)
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '{' {
		return nil // not an object: the decoder says what is wrong
	}
	i++
	for i < len(b) {
		i = skipWS(b, i)
		if i >= len(b) || b[i] == '}' {
			return nil
		}
		if b[i] == ',' {
			i = skipWS(b, i+1)
		}
		if i >= len(b) || b[i] != '"' {
			return nil
		}
		ks := i
		i = skipStr(b, i)
		key := string(b[ks+1 : max(ks+1, i-1)])
		if strings.IndexByte(key, '\\') >= 0 {
			json.Unmarshal(b[ks:i], &key) // "\u0043ontent" is "Content" to the decoder
		}
		i = skipWS(b, i)
		i = skipWS(b, i+1) // the colon
		vs := i
		i = skipVal(b, i)
		info, ok := names[strings.ToLower(key)]
		if !ok {
			continue // unknown members are ignored, as the decoder does
		}
		if key != info.name {
			return fmt.Errorf("field %q: differs from %q only by case (field names are exact)", key, info.name)
		}
		if info.typ != nil && vs < len(b) && b[vs] == '{' {
			if err := checkNames(b[vs:i], info.typ); err != nil {
				return fmt.Errorf("%s: %w", info.name, err)
			}
		}
	}
	return nil
}

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

func skipStr(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return len(b) // cut off, maybe after a backslash (which stepped past it)
}

func skipVal(b []byte, i int) int {
	if i >= len(b) {
		return i
	}
	switch b[i] {
	case '"':
		return skipStr(b, i)
	case '{', '[':
		depth := 0
		for ; i < len(b); i++ {
			switch b[i] {
			case '"':
				i = skipStr(b, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
		}
		return i
	}
	for i < len(b) && b[i] != ',' && b[i] != '}' && b[i] != ']' {
		i++
	}
	return i
}
