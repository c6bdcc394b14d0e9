/// Turns StylusCore's findings for a document into LSP diagnostics.
enum DiagnosticsHandler {
    /// No prompt checks exist in StylusCore yet (the parser lands with the foundation issue);
    /// until then a document has no diagnostics.
    static func diagnostics(_ snapshot: DocumentSnapshot) -> [Diagnostic] {
        []
    }
}
