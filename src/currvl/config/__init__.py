"""The bottom layer: typed YAML configs whose errors name the file and line (recipes, compare configs)."""
