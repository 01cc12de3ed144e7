using System.Text.Json;
using System.Text.Json.Serialization;
using DaRcot.Rec.Checkpoints;
using DaRcot.Rec.Data.Degradations;
using DaRcot.Rec.Errors;
using DaRcot.Rec.Inference;
using TorchSharp;
using static TorchSharp.torch;

namespace DaRcot.Rec.Identification;

/// <summary>What <see cref="DegradationIdentifier.Identify"/> concluded about one image.</summary>
/// <param name="Degradation">The most likely degradation class.</param>
/// <param name="Scores">Every class with its score (softmax of the cosine similarities / <see cref="DegradationIdentifier.Temperature"/>), best first.</param>
public sealed record Identification(string Degradation, IReadOnlyList<(string Class, double Score)> Scores);

/// <summary>
/// Names the degradation of an image from a REC model's dense residual embedding (the paper's Figure 4 shows these
/// embeddings cluster by degradation): the embedding is pooled to one vector (per-channel mean and standard deviation,
/// L2-normalised) and compared with one centroid per class, fitted on synthetically degraded photos
/// (<see cref="Fit"/>). A nearest-centroid rule: nothing to train but the means, and it is stored as a small JSON file
/// beside the model.
/// </summary>
public sealed class DegradationIdentifier
{
    /// <summary>The classes and the degradation generators (<see cref="DegradationRegistry"/>) that stand for each.</summary>
    public static IReadOnlyDictionary<string, string[]> DefaultClasses { get; } = new Dictionary<string, string[]>
    {
        ["noise"] = new[] { "denoise_15", "denoise_25", "denoise_50" },
        ["rain"] = new[] { "derain" },
        ["haze"] = new[] { "dehaze" },
        ["blur"] = new[] { "deblur", "defocus_blur" },
        ["low light"] = new[] { "lowlight" },
    };

    /// <summary>Softmax temperature applied to cosine similarities for the reported scores.</summary>
    public const double Temperature = 0.05;

    private readonly float[][] _centroids;

    /// <summary>Creates an identifier from stored centroids.</summary>
    /// <param name="model">Which model's embeddings the centroids describe (a label; checked by callers that know).</param>
    /// <param name="classes">Class names, one per centroid.</param>
    /// <param name="centroids">Unit-length centroid vectors of equal length.</param>
    public DegradationIdentifier(string model, IReadOnlyList<string> classes, IReadOnlyList<float[]> centroids)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(classes);
        ArgumentNullException.ThrowIfNull(centroids);
        if (classes.Count < 2 || classes.Count != centroids.Count)
            throw new ArgumentException($"need one centroid per class and at least two classes; got {classes.Count} classes and {centroids.Count} centroids.");
        if (centroids.Any(c => c.Length != centroids[0].Length || c.Length == 0))
            throw new ArgumentException("centroids must all have the same, non-zero length.");
        Model = model;
        Classes = classes.ToArray();
        _centroids = centroids.Select(c => c.ToArray()).ToArray();
    }

    /// <summary>The model whose embeddings this identifier was fitted on.</summary>
    public string Model { get; }

    /// <summary>Class names.</summary>
    public IReadOnlyList<string> Classes { get; }

    /// <summary>Length of the pooled embedding vector.</summary>
    public int Dimensions => _centroids[0].Length;

    /// <summary>The pooled, unit-length embedding of one image [1, C, H, W] (or [C, H, W]).</summary>
    /// <exception cref="DaRcotException">The model has no <c>residual_embedding</c> output (not a REC / DA-RCOT model).</exception>
    public static float[] Embed(Restorer restorer, Tensor image, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(restorer);
        ArgumentNullException.ThrowIfNull(image);
        var outputs = restorer.RestoreNamed(image, cancellationToken: cancellationToken);
        try
        {
            if (!outputs.TryGetValue(INamedOutputs.ResidualEmbedding, out var embedding))
                throw new DaRcotException($"the model '{restorer.Info.Arch}' has no residual embedding: identification needs a REC or DA-RCOT model.");
            using var scope = NewDisposeScope();
            // Mean and spread per channel: which channels respond, and how unevenly over the image.
            var flat = embedding.to(float32).cpu().flatten(2);
            var pooled = cat(new[] { flat.mean(new long[] { 2 }), flat.std(2, unbiased: false) }, 1)[0];
            var v = pooled.to(float64).data<double>().ToArray();
            var norm = Math.Sqrt(v.Sum(x => x * x));
            if (!(norm > 0) || double.IsInfinity(norm))
                throw new DaRcotException("the pooled residual embedding is zero or not finite; the image cannot be identified.");
            return v.Select(x => (float)(x / norm)).ToArray();
        }
        finally
        {
            foreach (var t in outputs.Values) t.Dispose();
        }
    }

    /// <summary>The most likely degradation of <paramref name="image"/>, with every class's score.</summary>
    /// <exception cref="DaRcotException">The model's embedding does not have this identifier's length.</exception>
    public Identification Identify(Restorer restorer, Tensor image, CancellationToken cancellationToken = default) =>
        Classify(Embed(restorer, image, cancellationToken));

    /// <summary>Scores of a pooled embedding vector (from <see cref="Embed"/>).</summary>
    public Identification Classify(float[] embedding)
    {
        ArgumentNullException.ThrowIfNull(embedding);
        if (embedding.Length != Dimensions)
            throw new DaRcotException($"the embedding has {embedding.Length} values but this identifier (fitted on '{Model}') expects {Dimensions}: it belongs to another model.");
        var similarities = _centroids.Select(c => Dot(c, embedding)).ToArray();
        var max = similarities.Max();
        var weights = similarities.Select(s => Math.Exp((s - max) / Temperature)).ToArray();
        var total = weights.Sum();
        var scores = Classes.Select((name, i) => (name, weights[i] / total)).OrderByDescending(s => s.Item2).ToArray();
        return new Identification(scores[0].name, scores);
    }

    /// <summary>
    /// Fits one centroid per class: every clean image is degraded <paramref name="samplesPerImage"/> times per class
    /// (the class's generators in turn, seeds from <paramref name="seed"/>), embedded, and the class mean of the unit
    /// vectors is taken (renormalised).
    /// </summary>
    /// <param name="restorer">A REC or DA-RCOT model.</param>
    /// <param name="model">Label stored with the centroids (e.g. the model's name).</param>
    /// <param name="cleanImages">Clean training images [1, 3, H, W] in [0, 1] (crops of photos).</param>
    /// <param name="classes">Class → generator names; default <see cref="DefaultClasses"/>.</param>
    /// <param name="samplesPerImage">Degraded samples per image and class.</param>
    /// <param name="seed">Seed of the degradations.</param>
    /// <param name="cancellationToken">Checked between samples.</param>
    public static DegradationIdentifier Fit(Restorer restorer, string model, IReadOnlyList<Tensor> cleanImages,
        IReadOnlyDictionary<string, string[]>? classes = null, int samplesPerImage = 3, long seed = 1, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(restorer);
        ArgumentNullException.ThrowIfNull(cleanImages);
        classes ??= DefaultClasses;
        if (cleanImages.Count == 0) throw new ArgumentException("at least one clean image is needed.", nameof(cleanImages));
        var generators = classes.ToDictionary(c => c.Key, c => c.Value.Select(DegradationRegistry.Create).ToArray());
        var names = classes.Keys.ToArray();
        var centroids = new List<float[]>();
        var draw = seed;
        foreach (var name in names)
        {
            double[]? sum = null;
            for (var i = 0; i < cleanImages.Count; i++)
            {
                for (var k = 0; k < samplesPerImage; k++)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    var generator = generators[name][(i * samplesPerImage + k) % generators[name].Length];
                    using var degraded = generator.Apply(cleanImages[i], draw++);
                    var v = Embed(restorer, degraded, cancellationToken);
                    sum ??= new double[v.Length];
                    for (var j = 0; j < v.Length; j++) sum[j] += v[j];
                }
            }
            var total = sum ?? throw new InvalidOperationException("no samples were embedded.");
            var norm = Math.Sqrt(total.Sum(x => x * x));
            centroids.Add(total.Select(x => (float)(x / norm)).ToArray());
        }
        return new DegradationIdentifier(model, names, centroids);
    }

    /// <summary>Writes the identifier as JSON (atomically).</summary>
    public void Save(string path)
    {
        var file = new StoredIdentifier { Model = Model, Classes = Classes.ToArray(), Centroids = _centroids, Temperature = Temperature };
        AtomicFile.Write(path, s => JsonSerializer.Serialize(s, file, JsonOptions));
    }

    /// <summary>Reads an identifier written by <see cref="Save"/>.</summary>
    /// <exception cref="CheckpointFormatException">The file cannot be read or is not an identifier.</exception>
    public static DegradationIdentifier Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path)) throw new CheckpointFormatException(path, "the identifier file does not exist.");
        using var stream = File.OpenRead(path);
        return Load(stream, path);
    }

    /// <summary>Reads an identifier from a stream (<paramref name="name"/> is used in errors).</summary>
    /// <exception cref="CheckpointFormatException">Not an identifier.</exception>
    public static DegradationIdentifier Load(Stream stream, string name)
    {
        StoredIdentifier? file;
        try
        {
            file = JsonSerializer.Deserialize<StoredIdentifier>(stream, JsonOptions);
        }
        catch (JsonException e)
        {
            throw new CheckpointFormatException(name, $"not a degradation identifier (JSON: {e.Message}).");
        }
        if (file?.Model is null || file.Classes is null || file.Centroids is null)
            throw new CheckpointFormatException(name, "not a degradation identifier: 'model', 'classes' and 'centroids' are required.");
        try
        {
            return new DegradationIdentifier(file.Model, file.Classes, file.Centroids);
        }
        catch (ArgumentException e)
        {
            throw new CheckpointFormatException(name, e.Message);
        }
    }

    private static double Dot(float[] a, float[] b)
    {
        double s = 0;
        for (var i = 0; i < a.Length; i++) s += (double)a[i] * b[i];
        return s;
    }

    private static readonly JsonSerializerOptions JsonOptions = new() { WriteIndented = false };

    private sealed class StoredIdentifier
    {
        [JsonPropertyName("model")] public string? Model { get; init; }
        [JsonPropertyName("classes")] public string[]? Classes { get; init; }
        [JsonPropertyName("feature")] public string Feature { get; init; } = "per-channel mean and std of the residual embedding, L2-normalised; nearest centroid by cosine";
        [JsonPropertyName("temperature")] public double Temperature { get; init; }
        [JsonPropertyName("centroids")] public float[][]? Centroids { get; init; }
    }
}
