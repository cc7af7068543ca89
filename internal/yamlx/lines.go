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
	for _, part := range splitPath(path) {
		if cur.Kind == yaml.AliasNode {
			cur = cur.Alias
		}
		if i, err := strconv.Atoi(part); err == nil && cur.Kind == yaml.SequenceNode {
			if i < 0 || i >= len(cur.Content) {
				return line, col
			}
			cur = cur.Content[i]
			line, col = cur.Line, cur.Column
			continue
		}
		if cur.Kind != yaml.MappingNode {
			return line, col
		}
		found := false
		for i := 0; i+1 < len(cur.Content); i += 2 {
			if cur.Content[i].Value == part {
				line, col = cur.Content[i].Line, cur.Content[i].Column
				cur = cur.Content[i+1]
				found = true
				break
			}
		}
		if !found {
			return line, col
		}
	}
	return line, col
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
