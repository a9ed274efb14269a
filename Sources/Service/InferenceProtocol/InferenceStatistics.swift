import Foundation
import Synchronization

/// One model version's inference counts and durations since start, as the statistics extension
/// reports them (`GET /v2/models/{m}/stats`, which perf_analyzer reads to split its latency
/// into queue, input, compute and output).
///
/// Requests count in `inference_stats` (success, fail, and the stages of the successful ones),
/// model executions in `execution_count` and `batch_stats`: a batch of eight requests run
/// together is eight inferences and one execution. A request's stages are recorded together
/// when it succeeds, so any two snapshots differ by as many of each stage as of successes:
/// perf_analyzer stops if its window sees more inputs than computations.
final class InferenceStatistics: Sendable {
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

    private let counts = Mutex(Snapshot(stages: [:], inferenceCount: 0, executionCount: 0, lastInference: 0, batches: [:]))

    /// A request that succeeded after `total` nanoseconds, and its stages.
    func recordSuccess(total: UInt64, _ timing: RequestTiming) {
        counts.withLock { counts in
            counts.stages[.success, default: Duration()].add(total)
            counts.stages[.queue, default: Duration()].add(timing.queue)
            counts.stages[.computeInput, default: Duration()].add(timing.input)
            counts.stages[.computeInfer, default: Duration()].add(timing.infer)
            counts.stages[.computeOutput, default: Duration()].add(timing.output)
        }
    }

    /// A request that failed after `total` nanoseconds, once bound to the model.
    func recordFailure(total: UInt64) {
        counts.withLock { $0.stages[.fail, default: Duration()].add(total) }
    }

    /// One run of the model over `batchSize` inputs.
    func recordExecution(batchSize: Int, nanoseconds: UInt64) {
        let now = UInt64(Date().timeIntervalSince1970 * 1000)
        counts.withLock { counts in
            counts.executionCount += 1
            counts.inferenceCount += UInt64(batchSize)
            counts.lastInference = now
            counts.batches[batchSize, default: Duration()].add(nanoseconds)
        }
    }

    var snapshot: Snapshot { counts.withLock { $0 } }
}

/// Nanoseconds from `start` to now.
func nanoseconds(since start: DispatchTime) -> UInt64 {
    DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds
}
