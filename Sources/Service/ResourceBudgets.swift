import Foundation

/// How much memory, CPU and disk one request, one upload and the data folder may cost. Every
/// value is a key of config/salient.json (documented in config/README.md) and, for the ones an
/// operator tunes most, a `SALIENT_*` variable; every refusal names the key it ran into.
public struct ResourceBudgets: Sendable, Equatable {
    /// Pixels that all images of one request may declare together (a multipart classification).
    public var maxRequestPixels = 100_000_000
    /// Images one request may carry.
    public var maxRequestImages = 64
    /// Memory that images being decoded, preprocessed and rendered may hold at once, across all
    /// requests; a request that would pass it waits for others to finish, then gets 503.
    public var maxImageMemoryBytes = 384 << 20
    /// A rendered saliency map (and the photo under its overlay) has at most this many pixels;
    /// larger images get a map scaled down to fit, aspect kept.
    public var maxSaliencyPixels = 2_000_000
    /// Memory one saliency pass's batch of copies (SmoothGrad's noisy inputs, integrated
    /// gradients' steps) may take with its activations and gradients; the batch shrinks to fit,
    /// down to one copy.
    public var maxSaliencyBatchBytes = 256 << 20
    /// Bytes of rendered maps kept for `GET /v1/saliency/{id}.png`, oldest dropped first.
    public var saliencyCacheBytes = 256 << 20
    /// Integrated-gradients steps or SmoothGrad samples one saliency request may ask for (`steps=`).
    public var maxSaliencySteps = 256
    /// Deletion and insertion steps a fidelity score may take (`fidelity_steps=`, 224 by
    /// default); each step is four images through the model.
    public var maxFidelitySteps = 448
    /// Classes one saliency request may explain at once (`class=top3`, `class=1,5,9`).
    public var maxSaliencyClasses = 10
    /// Passes (a forward and a backward) one sanity check may run: methods x (layers + 1) maps,
    /// integrated gradients and SmoothGrad counting their steps.
    public var maxSanityPasses = 2000
    /// Input elements (channels x height x width) a model may take.
    public var maxModelInputElements = 3 * 1024 * 1024
    /// Models registered at once, the default model included.
    public var maxModels = 32
    /// Versions one model may keep; each version of a loaded model is in memory, ready.
    public var maxModelVersions = 4
    /// Work that folding an uploaded ONNX model's constant subgraphs may take: one unit per
    /// element produced plus one per multiply-accumulate.
    public var maxImportWork = 1 << 32
    /// Bytes of constants that folding may produce (weights a model generates at load time).
    public var maxImportConstantBytes = 768 << 20
    /// Wall-clock seconds one model import (parse, fold, check) may take.
    public var maxImportSeconds = 60.0
    /// Nodes an uploaded ONNX graph may have: torchvision's largest has 1,186; every pass over
    /// the graph (import, fusion, memory planning) is a step per node, some a step per pair.
    public var maxImportNodes = 50_000
    /// Datasets kept at once.
    public var maxDatasets = 64
    /// Bytes all stored datasets may take on disk.
    public var maxDatasetBytes = 4 << 30
    /// Files (entries) one dataset archive may hold.
    public var maxDatasetFiles = 20_000
    /// Memory a fine-tuning job's decoded training set (and validation split) may hold.
    public var maxTrainingSetBytes = 512 << 20
    /// Memory a fine-tuning job's batch may take with its activations and gradients
    /// (`batch_size` x what one image costs the model's backward pass).
    public var maxTrainingBatchBytes = 2 << 30

    public init() {}

    /// The keys in config/salient.json.
    struct File: Decodable {
        var max_request_pixels: Int?
        var max_request_images: Int?
        var max_image_memory_bytes: Int?
        var max_saliency_pixels: Int?
        var max_saliency_batch_bytes: Int?
        var saliency_cache_bytes: Int?
        var max_saliency_steps: Int?
        var max_fidelity_steps: Int?
        var max_saliency_classes: Int?
        var max_sanity_passes: Int?
        var max_model_input_elements: Int?
        var max_models: Int?
        var max_model_versions: Int?
        var max_import_work: Int?
        var max_import_constant_bytes: Int?
        var max_import_seconds: Double?
        var max_import_nodes: Int?
        var max_datasets: Int?
        var max_dataset_bytes: Int?
        var max_dataset_files: Int?
        var max_training_set_bytes: Int?
        var max_training_batch_bytes: Int?
    }

    mutating func apply(_ f: File) {
        if let v = f.max_request_pixels { maxRequestPixels = v }
        if let v = f.max_request_images { maxRequestImages = v }
        if let v = f.max_image_memory_bytes { maxImageMemoryBytes = v }
        if let v = f.max_saliency_pixels { maxSaliencyPixels = v }
        if let v = f.max_saliency_batch_bytes { maxSaliencyBatchBytes = v }
        if let v = f.saliency_cache_bytes { saliencyCacheBytes = v }
        if let v = f.max_saliency_steps { maxSaliencySteps = v }
        if let v = f.max_fidelity_steps { maxFidelitySteps = v }
        if let v = f.max_saliency_classes { maxSaliencyClasses = v }
        if let v = f.max_sanity_passes { maxSanityPasses = v }
        if let v = f.max_model_input_elements { maxModelInputElements = v }
        if let v = f.max_models { maxModels = v }
        if let v = f.max_model_versions { maxModelVersions = v }
        if let v = f.max_import_work { maxImportWork = v }
        if let v = f.max_import_constant_bytes { maxImportConstantBytes = v }
        if let v = f.max_import_seconds { maxImportSeconds = v }
        if let v = f.max_import_nodes { maxImportNodes = v }
        if let v = f.max_datasets { maxDatasets = v }
        if let v = f.max_dataset_bytes { maxDatasetBytes = v }
        if let v = f.max_dataset_files { maxDatasetFiles = v }
        if let v = f.max_training_set_bytes { maxTrainingSetBytes = v }
        if let v = f.max_training_batch_bytes { maxTrainingBatchBytes = v }
    }

    /// `SALIENT_<KEY>` for every key, upper-cased.
    mutating func apply(environment: [String: String]) throws {
        func int(_ key: String) throws -> Int? {
            guard let text = environment["SALIENT_" + key.uppercased()] else { return nil }
            guard let value = Int(text) else {
                throw ServiceConfiguration.Error(description: "SALIENT_\(key.uppercased())=\(text) is not a whole number")
            }
            return value
        }
        var file = File()
        file.max_request_pixels = try int("max_request_pixels")
        file.max_request_images = try int("max_request_images")
        file.max_image_memory_bytes = try int("max_image_memory_bytes")
        file.max_saliency_pixels = try int("max_saliency_pixels")
        file.max_saliency_batch_bytes = try int("max_saliency_batch_bytes")
        file.saliency_cache_bytes = try int("saliency_cache_bytes")
        file.max_saliency_steps = try int("max_saliency_steps")
        file.max_fidelity_steps = try int("max_fidelity_steps")
        file.max_saliency_classes = try int("max_saliency_classes")
        file.max_sanity_passes = try int("max_sanity_passes")
        file.max_model_input_elements = try int("max_model_input_elements")
        file.max_models = try int("max_models")
        file.max_model_versions = try int("max_model_versions")
        file.max_import_work = try int("max_import_work")
        file.max_import_constant_bytes = try int("max_import_constant_bytes")
        file.max_import_seconds = try int("max_import_seconds").map(Double.init)
        file.max_import_nodes = try int("max_import_nodes")
        file.max_datasets = try int("max_datasets")
        file.max_dataset_bytes = try int("max_dataset_bytes")
        file.max_dataset_files = try int("max_dataset_files")
        file.max_training_set_bytes = try int("max_training_set_bytes")
        file.max_training_batch_bytes = try int("max_training_batch_bytes")
        apply(file)
    }

    func validate() throws {
        let positive: [(String, Double)] = [
            ("max_request_pixels", Double(maxRequestPixels)), ("max_request_images", Double(maxRequestImages)),
            ("max_image_memory_bytes", Double(maxImageMemoryBytes)), ("max_saliency_pixels", Double(maxSaliencyPixels)),
            ("max_saliency_batch_bytes", Double(maxSaliencyBatchBytes)), ("max_saliency_steps", Double(maxSaliencySteps)),
            ("max_fidelity_steps", Double(maxFidelitySteps)), ("max_saliency_classes", Double(maxSaliencyClasses)),
            ("max_sanity_passes", Double(maxSanityPasses)),
            ("saliency_cache_bytes", Double(saliencyCacheBytes)), ("max_model_input_elements", Double(maxModelInputElements)),
            ("max_models", Double(maxModels)), ("max_model_versions", Double(maxModelVersions)),
            ("max_import_work", Double(maxImportWork)),
            ("max_import_constant_bytes", Double(maxImportConstantBytes)), ("max_import_seconds", maxImportSeconds),
            ("max_import_nodes", Double(maxImportNodes)),
            ("max_datasets", Double(maxDatasets)), ("max_dataset_bytes", Double(maxDatasetBytes)),
            ("max_dataset_files", Double(maxDatasetFiles)),
            ("max_training_set_bytes", Double(maxTrainingSetBytes)), ("max_training_batch_bytes", Double(maxTrainingBatchBytes)),
        ]
        for (key, value) in positive where !(value > 0) {
            throw ServiceConfiguration.Error(description: "\(key) must be positive, not \(value)")
        }
    }
}
