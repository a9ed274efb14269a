/// Thrown by the executor pool and the batcher when more requests wait for a model's
/// executors than the configured limit, so overload is refused instead of queued forever.
struct InferenceOverload: Error, CustomStringConvertible {
    /// `max_queued_requests`.
    let limit: Int

    var message: String { "more than \(limit) requests are waiting for inference (max_queued_requests)" }
    var description: String { message }
}
