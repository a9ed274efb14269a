import ArgumentParser

@main
struct Salient: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "CNN inference, saliency maps and fine-tuning as a service.",
        subcommands: [Serve.self, Classify.self, Saliency.self, Inspect.self, Train.self, Bench.self, Healthcheck.self])

    static func main() {
        AllocatorPolicy.retainFreedMemory()
        main(nil)
    }
}
