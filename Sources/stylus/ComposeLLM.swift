import Foundation
import StylusCatalog
import StylusCore

/// `stylus compose --llm`: endpoint configuration and the one-warning-per-run fallback.
extension ComposeCommand {
    /// Seconds per LLM request unless $STYLUS_LLM_TIMEOUT or --llm-timeout says otherwise.
    static let defaultLLMTimeout: Double = 30

    func validateLLMOptions() -> String? {
        if !llm && (llmURL != nil || llmModel != nil || llmTimeout != nil) {
            return "--llm-url, --llm-model and --llm-timeout need --llm"
        }
        if let t = llmTimeout, !(t > 0 && t.isFinite) { return "--llm-timeout must be a positive number of seconds" }
        return nil
    }

    /// The LLM composer for this run, nil without --llm (then nothing touches the network).
    func llmSession() throws -> LLMComposerSession? {
        guard llm else { return nil }
        var env = ProcessInfo.processInfo.environment
        if let llmURL { env["STYLUS_LLM_URL"] = llmURL }
        if let llmModel { env["STYLUS_LLM_MODEL"] = llmModel }
        guard var endpoint = ChatEndpoint(environment: env, defaultTimeout: Self.defaultLLMTimeout) else {
            printError("stylus compose: --llm needs an endpoint: set STYLUS_LLM_URL and STYLUS_LLM_MODEL (or --llm-url and --llm-model)")
            throw CLIExit.badInput
        }
        guard let scheme = endpoint.url.scheme?.lowercased(), scheme == "http" || scheme == "https", endpoint.url.host != nil else {
            printError("stylus compose: LLM URL '\(endpoint.url.absoluteString)' is not an http(s) URL such as http://127.0.0.1:8080/v1")
            throw CLIExit.badInput
        }
        if let llmTimeout { endpoint.timeout = llmTimeout }
        return LLMComposerSession(chat: ChatClient(endpoint: endpoint))
    }

    /// With an LLM session, lets the LLM redo the built-in outcome's composition and says which
    /// composer decided. The first LLM failure of the run is reported once on stderr; the output is
    /// produced either way.
    func withLLM(_ session: LLMComposerSession?, _ builtIn: ComposeOutcome, _ request: ComposeRequest,
                 source: any CandidateSource) throws -> (ComposeOutcome, String?) {
        guard let session else { return (builtIn, nil) }
        let result = try session.compose(request, builtIn: builtIn, source: source)
        if let failure = result.failure, session.failures == 1 {
            let scope = failure.isEndpointFailure ? "for the rest of this run" : "where the LLM fails (warned once per run)"
            printError("stylus compose: warning: LLM composer (\(session.chat.modelName)): \(failure); using the built-in composer \(scope)")
        }
        return (result.outcome, result.usedLLM ? "llm" : "built-in")
    }
}
