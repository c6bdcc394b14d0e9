/// JSON shapes of the syntax tree (`stylus parse --json`). Every node has `kind` and `range`
/// (`utf8` offsets plus LSP `start`/`end`), then its own fields.

extension PromptNode: Encodable {
    enum Keys: String, CodingKey {
        case kind, range, value, bracket, weight, closed, children, from, to, when, options
        case type, name, nameRange, arguments, key
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(range, forKey: .range)
        switch self {
        case .text(let t):
            try c.encode("text", forKey: .kind)
            try c.encode(t.value, forKey: .value)
        case .emphasis(let e):
            try c.encode("emphasis", forKey: .kind)
            try c.encode(e.bracket, forKey: .bracket)
            try c.encode(e.multiplier, forKey: .weight)
            try c.encode(e.isClosed, forKey: .closed)
            try c.encode(e.children, forKey: .children)
        case .schedule(let s):
            try c.encode("schedule", forKey: .kind)
            try c.encode(s.from, forKey: .from)
            try c.encode(s.to, forKey: .to)
            try c.encode(s.when, forKey: .when)
        case .alternation(let a):
            try c.encode("alternation", forKey: .kind)
            try c.encode(a.options, forKey: .options)
        case .tag(let t):
            try c.encode("tag", forKey: .kind)
            try c.encode(t.type, forKey: .type)
            try c.encode(t.name, forKey: .name)
            try c.encode(t.nameRange, forKey: .nameRange)
            try c.encode(t.isClosed, forKey: .closed)
            try c.encode(t.arguments, forKey: .arguments)
        case .wildcard(let w):
            try c.encode("wildcard", forKey: .kind)
            try c.encode(w.name, forKey: .name)
        case .breakKeyword:
            try c.encode("break", forKey: .kind)
        case .comment:
            try c.encode("comment", forKey: .kind)
        }
    }
}

extension TagArgument: Encodable {
    enum Keys: String, CodingKey { case key, value, number, range }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        try c.encodeIfPresent(key, forKey: .key)
        try c.encode(value, forKey: .value)
        try c.encodeIfPresent(number, forKey: .number)
        try c.encode(range, forKey: .range)
    }
}

extension PromptSection: Encodable {
    enum Keys: String, CodingKey { case range, weight, nodes }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(range, forKey: .range)
        try c.encodeIfPresent(weight, forKey: .weight)
        try c.encode(nodes, forKey: .nodes)
    }
}

extension PromptSyntax: Encodable {
    enum Keys: String, CodingKey { case range, sections }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(range, forKey: .range)
        try c.encode(sections, forKey: .sections)
    }
}

/// `stylus parse --json` → `weights`: per `AND` part its weight, and per change of prompt editing
/// the step it lasts until, the text and A1111's `[text, weight]` spans (BREAK markers have
/// `"break": true`).
extension A1111Prompt: Encodable {
    enum Keys: String, CodingKey { case steps, sections }
    enum SectionKeys: String, CodingKey { case weight, schedule }
    enum StepKeys: String, CodingKey { case until, text, spans }
    enum SpanKeys: String, CodingKey { case text, weight, `break` }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(steps, forKey: .steps)
        var list = c.nestedUnkeyedContainer(forKey: .sections)
        for section in sections {
            var s = list.nestedContainer(keyedBy: SectionKeys.self)
            try s.encode(section.weight, forKey: .weight)
            var steps = s.nestedUnkeyedContainer(forKey: .schedule)
            for step in section.schedule {
                var st = steps.nestedContainer(keyedBy: StepKeys.self)
                try st.encode(step.endStep, forKey: .until)
                try st.encode(step.text.string, forKey: .text)
                var spans = st.nestedUnkeyedContainer(forKey: .spans)
                for span in step.spans {
                    var sp = spans.nestedContainer(keyedBy: SpanKeys.self)
                    try sp.encode(span.text, forKey: .text)
                    try sp.encode(span.weight, forKey: .weight)
                    if span.isBreak { try sp.encode(true, forKey: .break) }
                }
            }
        }
    }
}
