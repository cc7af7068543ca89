package yamlx

import (
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Locate returns the line and column of the key at path (dotted, with
// [i] for list items, as in FieldError.Path) inside node. When the exact key
// is absent it returns the position of the deepest ancestor that exists, so
// an error about a missing field still points near the right place.
func Locate(node *yaml.Node, path string) (line, col int) {
	if node == nil {
		return 0, 0
	}
	if node.Kind == yaml.DocumentNode && len(node.Content) > 0 {
		node = node.Content[0]
	}
	line, col = node.Line, node.Column
	cur := node
	forEachPart(path, func(part string) bool {
		if cur.Kind == yaml.AliasNode {
			cur = cur.Alias
		}
		if i, ok := index(part); ok && cur.Kind == yaml.SequenceNode {
			if i < 0 || i >= len(cur.Content) {
				return false
			}
			cur = cur.Content[i]
			line, col = cur.Line, cur.Column
			return true
		}
		if cur.Kind != yaml.MappingNode {
			return false
		}
		for i := 0; i+1 < len(cur.Content); i += 2 {
			if cur.Content[i].Value == part {
				line, col = cur.Content[i].Line, cur.Content[i].Column
				cur = cur.Content[i+1]
				return true
			}
		}
		return false
	})
	return line, col
}

// forEachPart calls f with every part of path, as splitPath splits it,
// until f returns false; without splitPath's allocations where the
// parts are substrings of path (where every "]" ends a part).
func forEachPart(path string, f func(part string) bool) {
	if path == "" {
		return
	}
	for i := 0; i < len(path); i++ {
		if path[i] == ']' && i+1 < len(path) && path[i+1] != '.' && path[i+1] != '[' {
			for _, part := range splitPath(path) {
				if !f(part) {
					return
				}
			}
			return
		}
	}
	start := 0
	for i := 0; i <= len(path); i++ {
		if i < len(path) && path[i] != '.' && path[i] != '[' {
			continue
		}
		part := path[start:i]
		start = i + 1
		if len(part) > 0 && part[len(part)-1] == ']' {
			part = part[:len(part)-1]
		}
		if strings.IndexByte(part, ']') >= 0 {
			part = strings.ReplaceAll(part, "]", "")
		}
		if !f(part) {
			return
		}
	}
}

// index is strconv.Atoi for a part of a path, without building an
// error for the parts that are not numbers.
func index(part string) (int, bool) {
	if part == "" || (part[0] < '0' || part[0] > '9') && part[0] != '-' && part[0] != '+' {
		return 0, false
	}
	i, err := strconv.Atoi(part)
	return i, err == nil
}

// splitPath turns "spec.ports[1].name" into ["spec", "ports", "1", "name"].
func splitPath(path string) []string {
	if path == "" {
		return nil
	}
	path = strings.ReplaceAll(path, "[", ".")
	path = strings.ReplaceAll(path, "]", "")
	return strings.Split(path, ".")
}
