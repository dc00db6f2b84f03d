// The VOC module. See docs/architecture.md for its place in the data flow.
