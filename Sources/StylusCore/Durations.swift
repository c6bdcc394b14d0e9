extension Duration {
    /// The duration in milliseconds, for timings reports.
    public var milliseconds: Double {
        let c = components
        return Double(c.seconds) * 1000 + Double(c.attoseconds) / 1e15
    }
}
