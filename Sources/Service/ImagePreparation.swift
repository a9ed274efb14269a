import CNN
import Foundation
import Imaging

/// Uploaded bytes to a model input, within the budgets: every image is planned from its headers
/// first (size limits, the request's pixel total), decoded only as large as its use needs
/// (libjpeg-turbo's DCT scaling), and holds its share of `ImageMemory` while its pixels exist.
struct ImagePreparation {
    let limits: DecodingLimits
    let budgets: ResourceBudgets
    let memory: ImageMemory

    init(configuration: ServiceConfiguration, memory: ImageMemory) {
        limits = DecodingLimits(maxBytes: configuration.maxImageBytes, maxPixels: configuration.maxImagePixels,
                                settingNames: [.bytes: "max_image_bytes", .pixels: "max_image_pixels"])
        budgets = configuration.budgets
        self.memory = memory
    }

    /// A model input and how long its steps took.
    struct Input {
        var tensor: Tensor
        var decodeMs: Double
        var preprocessMs: Double
    }

    /// What a saliency map needs: the model input, and the photo at the size the map is drawn,
    /// with the region of it that the input covers.
    struct Picture {
        var input: Input
        var view: Image
        var region: Preprocessing.Region
    }

    /// Refuses a request whose images are too many or declare too many pixels together, from
    /// their headers alone, before any is decoded.
    func checkRequest(_ images: [Data]) throws {
        guard images.count <= budgets.maxRequestImages else {
            throw BudgetError.exceeded("the request carries \(images.count) images; at most \(budgets.maxRequestImages) are allowed",
                                         setting: "max_request_images")
        }
        var total = 0
        for image in images {
            total += try ImageDecoder.plan(image, limits: limits).declaredPixels
            guard total <= budgets.maxRequestPixels else {
                throw BudgetError.exceeded("the images of the request declare more than \(budgets.maxRequestPixels) pixels together",
                                             setting: "max_request_pixels", code: "image_too_large")
            }
        }
    }

    /// The model input for classification: the image decoded just large enough for the resize.
    func input(_ bytes: Data, preprocessing: Preprocessing) throws -> Input {
        let plan = try ImageDecoder.plan(bytes, limits: limits, minimumShorterSide: preprocessing.minimumDecodedShorterSide)
        return try memory.withReservation(Self.preparationBytes(plan, preprocessing)) {
            let t0 = DispatchTime.now()
            let image = try ImageDecoder.decode(bytes, limits: limits, minimumShorterSide: preprocessing.minimumDecodedShorterSide)
            let t1 = DispatchTime.now()
            let tensor = try preprocess(image, preprocessing)
            return Input(tensor: tensor, decodeMs: milliseconds(t0, t1), preprocessMs: milliseconds(t1, DispatchTime.now()))
        }
    }

    /// The model input and a copy of the photo of at most `max_saliency_pixels`, the map's
    /// canvas. The image is decoded no larger than the larger of the two needs, so a photo of
    /// tens of megapixels is never held whole when it is a JPEG.
    func picture(_ bytes: Data, preprocessing: Preprocessing) throws -> Picture {
        let declared = try ImageDecoder.plan(bytes, limits: limits)
        let canvas = Self.canvasSize(width: declared.width, height: declared.height, maxPixels: budgets.maxSaliencyPixels)
        let shorterSide = preprocessing.minimumDecodedShorterSide.map { max($0, min(canvas.width, canvas.height)) }
        let plan = try ImageDecoder.plan(bytes, limits: limits, minimumShorterSide: shorterSide)
        let cost = Self.preparationBytes(plan, preprocessing) + canvas.width * canvas.height * 3
        return try memory.withReservation(cost) {
            let t0 = DispatchTime.now()
            let image = try ImageDecoder.decode(bytes, limits: limits, minimumShorterSide: shorterSide)
            let t1 = DispatchTime.now()
            let tensor = try preprocess(image, preprocessing)
            let t2 = DispatchTime.now()
            // Orientation may have swapped the axes the canvas was planned on.
            let swapped = (image.width > image.height) != (declared.width > declared.height)
            let (width, height) = swapped ? (canvas.height, canvas.width) : (canvas.width, canvas.height)
            let view = image.width * image.height > width * height ? try image.resized(width: width, height: height) : image
            let full = preprocessing.inputRegion(imageWidth: image.width, imageHeight: image.height)
            let (sx, sy) = (Double(view.width) / Double(image.width), Double(view.height) / Double(image.height))
            let region = Preprocessing.Region(x: full.x * sx, y: full.y * sy, width: full.width * sx, height: full.height * sy)
            return Picture(input: Input(tensor: tensor, decodeMs: milliseconds(t0, t1), preprocessMs: milliseconds(t1, t2)),
                           view: view, region: region)
        }
    }

    /// The size of an image scaled down, aspect kept, to at most `maxPixels`.
    static func canvasSize(width: Int, height: Int, maxPixels: Int) -> (width: Int, height: Int) {
        guard width * height > maxPixels else { return (width, height) }
        let scale = (Double(maxPixels) / Double(width * height)).squareRoot()
        return (max(1, Int(Double(width) * scale)), max(1, Int(Double(height) * scale)))
    }

    /// Memory for rendering a map over a `pixels`-pixel canvas: the upsampled map as floats, its
    /// colors, the photo in RGB, the blend and the PNG being written.
    static func renderingBytes(pixels: Int) -> Int { pixels * 32 }

    /// The most a decode and the preprocessing after it hold at once: the decode's own peak, or
    /// the decoded raster beside its color conversion, its inversion and the model input (as
    /// bytes, then floats).
    static func preparationBytes(_ plan: DecodePlan, _ preprocessing: Preprocessing) -> Int {
        let pixels = plan.width * plan.height
        let converted = plan.channels == preprocessing.channels ? 0 : pixels * preprocessing.channels
        let inverted = preprocessing.invert == .never ? 0 : pixels * preprocessing.channels
        let input = preprocessing.outputShape?.reduce(1, *) ?? pixels * preprocessing.channels
        return max(plan.peakBytes, plan.outputBytes + converted + inverted + input * 5)
    }

    private func preprocess(_ image: Image, _ preprocessing: Preprocessing) throws -> Tensor {
        let (values, shape) = try preprocessing.apply(to: image)
        return Tensor(shape: shape, scalars: values)
    }
}
