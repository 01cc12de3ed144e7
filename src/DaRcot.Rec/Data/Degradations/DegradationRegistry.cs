using DaRcot.Rec.Errors;

namespace DaRcot.Rec.Data.Degradations;

/// <summary>
/// Task names ↔ official task ids ↔ synthetic generators.
/// </summary>
/// <remarks>
/// <para>The official labels (<c>util/universal_dataset.py</c>): denoise_15 = 0, denoise_25 = 1, denoise_50 = 2,
/// derain = 3, dehaze = 4, deblur = 5, lowlight = 6, single = 7. "single" is the official label for a user's own
/// single-degradation dataset; it has no generator. The extra synthesisers that are not official tasks
/// (<c>jpeg</c>, <c>gaussian_blur</c>/<c>defocus_blur</c> (deblur, 5), <c>blur+noise</c>, <c>haze+rain</c>) carry id 7
/// unless they belong to an official task.</para>
/// <para>The generators for derain, dehaze, deblur and lowlight are synthetic stand-ins for the benchmark data
/// (Rain100L, RESIDE, GoPro, LOL), useful for training and evaluation without the downloads; the denoise generators
/// are exactly the official synthesis.</para>
/// </remarks>
public static class DegradationRegistry
{
    /// <summary>The official label for "single" (a custom dataset) and the id of non-official synthesisers.</summary>
    public const int SingleTaskId = 7;

    private static readonly (string Name, int Id)[] Official =
    {
        ("denoise_15", 0), ("denoise_25", 1), ("denoise_50", 2), ("derain", 3), ("dehaze", 4), ("deblur", 5),
        ("lowlight", 6), ("single", SingleTaskId),
    };

    private static readonly Dictionary<string, Func<IDegradation>> Factories = new(StringComparer.OrdinalIgnoreCase)
    {
        ["denoise_15"] = () => new GaussianNoise(15),
        ["denoise_25"] = () => new GaussianNoise(25),
        ["denoise_50"] = () => new GaussianNoise(50),
        ["derain"] = () => new RainStreaks(),
        ["dehaze"] = () => new Haze(),
        ["deblur"] = () => new MotionBlur(),
        ["lowlight"] = () => new LowLight(),
        ["gaussian_blur"] = () => new GaussianBlur(),
        ["defocus_blur"] = () => new DefocusBlur(),
        ["jpeg"] = () => new JpegCompression(),
        ["blur+noise"] = () => new CompositeDegradation("blur+noise", new IDegradation[] { new MotionBlur(), new GaussianNoise(25, name: "noise_25", taskId: SingleTaskId) }),
        ["haze+rain"] = () => new CompositeDegradation("haze+rain", new IDegradation[] { new Haze(), new RainStreaks() }),
    };

    /// <summary>The official task names in id order (including <c>single</c>).</summary>
    public static IReadOnlyList<string> OfficialTaskNames { get; } = Official.Select(o => o.Name).ToArray();

    /// <summary>Names that have a generator (<see cref="Create"/>).</summary>
    public static IReadOnlyList<string> GeneratorNames { get; } = Factories.Keys.ToArray();

    /// <summary>The official task id of <paramref name="name"/> (official names, or a generator name: its task id).</summary>
    /// <exception cref="DaRcotException">Unknown name; the message lists the known ones.</exception>
    public static int GetTaskId(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        foreach (var (n, id) in Official)
            if (string.Equals(n, name, StringComparison.OrdinalIgnoreCase)) return id;
        if (Factories.TryGetValue(name, out var factory)) return factory().TaskId;
        throw Unknown(name);
    }

    /// <summary>The official task name of <paramref name="taskId"/> (0–7).</summary>
    /// <exception cref="ArgumentOutOfRangeException">Not an official id.</exception>
    public static string GetTaskName(int taskId)
    {
        foreach (var (n, id) in Official)
            if (id == taskId) return n;
        throw new ArgumentOutOfRangeException(nameof(taskId), taskId, "official task ids are 0..7 (denoise_15, denoise_25, denoise_50, derain, dehaze, deblur, lowlight, single).");
    }

    /// <summary>Whether <paramref name="name"/> is an official task or has a generator.</summary>
    public static bool IsKnown(string name) =>
        name is not null && (Official.Any(o => string.Equals(o.Name, name, StringComparison.OrdinalIgnoreCase)) || Factories.ContainsKey(name));

    /// <summary>A new generator for <paramref name="name"/> with its default parameters.</summary>
    /// <exception cref="DaRcotException">Unknown name, or <c>single</c> (which is a dataset, not a synthesiser).</exception>
    public static IDegradation Create(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (Factories.TryGetValue(name, out var factory)) return factory();
        if (string.Equals(name, "single", StringComparison.OrdinalIgnoreCase))
            throw new DaRcotException("Task 'single' (id 7) is a user-provided paired dataset and has no synthetic generator. Known generators: " + string.Join(", ", GeneratorNames) + ".");
        throw Unknown(name);
    }

    private static DaRcotException Unknown(string name) =>
        new($"Unknown degradation '{name}'. Known tasks: {string.Join(", ", OfficialTaskNames)}; known generators: {string.Join(", ", GeneratorNames)}.");
}
