import Foundation

/// One model version's inference counts and durations since start, as the statistics extension
/// reports them (`GET /v2/models/{m}/stats`, which perf_analyzer reads to split its latency
/// into queue, input, compute and output).
///
/// Requests count in `inference_stats` (success, fail, and the stages of the successful ones),
/// model executions in `execution_count` and `batch_stats`: a batch of eight requests run
/// together is eight inferences and one execution. A request's stages are recorded together
/// when it succeeds, so any two snapshots differ by as many of each stage as of successes:
/// perf_analyzer stops if its window sees more inputs than computations.
final class InferenceStatistics: @unchecked Sendable {
    enum Stage: String, CaseIterable {
        case success, fail, queue
        case computeInput = "compute_input", computeInfer = "compute_infer", computeOutput = "compute_output"
    }

    struct Duration: Codable, Equatable {
        var count: UInt64 = 0
        var ns: UInt64 = 0

        mutating func add(_ nanoseconds: UInt64) {
            count += 1
            ns += nanoseconds
        }
    }

    /// Where one successful request spent its time, in nanoseconds.
    struct RequestTiming {
        /// Waiting for a batch or an executor.
        var queue: UInt64 = 0
        /// Decoding the body's tensors or images into the model's input.
        var input: UInt64 = 0
        /// The model's run, shared with the batch it ran in.
        var infer: UInt64 = 0
        /// Shaping the answer.
        var output: UInt64 = 0
    }

    struct Snapshot {
        var stages: [Stage: Duration]
        var inferenceCount: UInt64
        var executionCount: UInt64
        /// Milliseconds since the epoch; 0 before the first inference.
        var lastInference: UInt64
        var batches: [Int: Duration]
    }

    private let lock = NSLock()
    private var stages: [Stage: Duration] = [:]
    private var inferenceCount: UInt64 = 0
    private var executionCount: UInt64 = 0
    private var lastInference: UInt64 = 0
    private var batches: [Int: Duration] = [:]

    /// A request that succeeded after `total` nanoseconds, and its stages.
    func recordSuccess(total: UInt64, _ timing: RequestTiming) {
        lock.withLock {
            stages[.success, default: Duration()].add(total)
            stages[.queue, default: Duration()].add(timing.queue)
            stages[.computeInput, default: Duration()].add(timing.input)
            stages[.computeInfer, default: Duration()].add(timing.infer)
            stages[.computeOutput, default: Duration()].add(timing.output)
        }
    }

    /// A request that failed after `total` nanoseconds, once bound to the model.
    func recordFailure(total: UInt64) {
        lock.withLock { stages[.fail, default: Duration()].add(total) }
    }

    /// One run of the model over `batchSize` inputs.
    func recordExecution(batchSize: Int, nanoseconds: UInt64) {
        let now = UInt64(Date().timeIntervalSince1970 * 1000)
        lock.withLock {
            executionCount += 1
            inferenceCount += UInt64(batchSize)
            lastInference = now
            batches[batchSize, default: Duration()].add(nanoseconds)
        }
    }

    var snapshot: Snapshot {
        lock.withLock {
            Snapshot(stages: stages, inferenceCount: inferenceCount, executionCount: executionCount,
                     lastInference: lastInference, batches: batches)
        }
    }
}

/// Nanoseconds from `start` to now.
func nanoseconds(since start: DispatchTime) -> UInt64 {
    DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds
}
