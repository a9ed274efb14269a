import Foundation

/// One model version's inference counts and durations since start, as the statistics extension
/// reports them (`GET /v2/models/{m}/stats`, which perf_analyzer reads to split its latency
/// into queue, input, compute and output).
///
/// Requests count in `inference_stats` (success, fail, and the stages of the successful ones),
/// model executions in `execution_count` and `batch_stats`: a batch of eight requests run
/// together is eight inferences and one execution.
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

    /// A stage of one request.
    func record(_ stage: Stage, nanoseconds: UInt64) {
        lock.withLock { stages[stage, default: Duration()].add(nanoseconds) }
    }

    /// A stage of one request, from `start` to now.
    func record(_ stage: Stage, since start: DispatchTime) {
        record(stage, nanoseconds: DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds)
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
