import ArgumentParser

struct RenderCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "render", abstract: "Compose and render a prompt file to a PNG locally.")

    @Argument(parsing: .captureForPassthrough) var arguments: [String] = []

    func run() throws {
        throw notBuiltYet("render", "the local Stable Diffusion renderer")
    }
}
