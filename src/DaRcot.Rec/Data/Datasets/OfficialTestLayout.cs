using DaRcot.Rec.Data.Degradations;
using DaRcot.Rec.Errors;

namespace DaRcot.Rec.Data.Datasets;

/// <summary>
/// The official test layout (DA-RCOT README), under a root such as <c>data/Test</c>:
/// <code>
/// derain/Rain100L/input, derain/Rain100L/target    Rain100L (rain-N / norain-N names are matched by number)
/// dehaze/input, dehaze/target                       SOTS outdoor (ID_a_b hazy names are matched to ID)
/// denoise/bsd68, denoise/kodak24                    clean images; noise synthesised at σ = 15, 25, 50
/// deblur/input, deblur/target                       GoPro
/// lowlight/low, lowlight/high                       LOL-v1
/// </code>
/// </summary>
/// <remarks>
/// Denoising test noise uses seed <see cref="DenoiseSeed"/> (1850, the official tester's seed) plus the image index
/// with our torch generator; numpy's random stream is not reproduced, so the noisy images (and therefore the
/// PSNR to about ±0.02 dB) differ from the official run, but every run of ours is identical.
/// </remarks>
public static class OfficialTestLayout
{
    /// <summary>The base seed of the denoising test noise (as <c>tester_noise.py</c>).</summary>
    public const long DenoiseSeed = 1850;

    /// <summary>The test tasks in the order of the paper's Table II: dehaze, derain, denoise, deblur, lowlight.</summary>
    public static IReadOnlyList<string> Tasks { get; } = new[] { "dehaze", "derain", "denoise", "deblur", "lowlight" };

    /// <summary>
    /// Finds the test sets of <paramref name="tasks"/> (default: all present) under <paramref name="testRoot"/>
    /// (which may also be the folder that contains <c>Test</c>/<c>test</c>).
    /// </summary>
    /// <param name="testRoot">The test root.</param>
    /// <param name="tasks">Task names: dehaze, derain, denoise (all σ), denoise_15/25/50, deblur, lowlight; null = all found.</param>
    /// <param name="problems">Receives notes about missing folders and unmatched files.</param>
    /// <exception cref="DaRcotException">The root is missing, a requested task's folder is missing, or a name is unknown.</exception>
    public static IReadOnlyList<TestSet> Discover(string testRoot, IEnumerable<string>? tasks = null, IList<string>? problems = null)
    {
        ArgumentNullException.ThrowIfNull(testRoot);
        if (!Directory.Exists(testRoot)) throw new DaRcotException($"Test folder '{testRoot}' does not exist.");
        var root = ImageFiles.FindDirectory(testRoot, "Test", "test") ?? testRoot;
        bool explicitTasks = tasks is not null;
        var wanted = (tasks ?? Tasks).ToList();
        var sets = new List<TestSet>();
        foreach (var task in wanted)
        {
            var lower = task.ToLowerInvariant();
            var sigmas = lower switch
            {
                "denoise" => new[] { 15, 25, 50 },
                "denoise_15" => new[] { 15 },
                "denoise_25" => new[] { 25 },
                "denoise_50" => new[] { 50 },
                _ => null,
            };
            string? dir;
            if (sigmas is not null)
            {
                dir = ImageFiles.FindDirectory(root, "denoise");
                if (dir is null) { Missing(task, Path.Combine(root, "denoise")); continue; }
                bool any = false;
                foreach (var (sub, display) in new[] { ("bsd68", "BSD68"), ("kodak24", "Kodak24") })
                {
                    var clean = ImageFiles.FindDirectory(dir, sub);
                    if (clean is null) continue;
                    any = true;
                    foreach (var s in sigmas) sets.Add(Denoise(clean, display, s));
                }
                if (!any) Missing(task, Path.Combine(dir, "bsd68"));
                continue;
            }
            switch (lower)
            {
                case "derain":
                    dir = ImageFiles.FindDirectory(root, "derain") is { } d ? ImageFiles.FindDirectory(d, "Rain100L") : null;
                    if (dir is null) { Missing(task, Path.Combine(root, "derain", "Rain100L")); continue; }
                    sets.Add(Paired(dir, "input", "target", "Rain100L", "derain", PairedFolder.RainKey, PairedFolder.RainKey, problems));
                    break;
                case "dehaze":
                    dir = ImageFiles.FindDirectory(root, "dehaze");
                    if (dir is null) { Missing(task, Path.Combine(root, "dehaze")); continue; }
                    sets.Add(Paired(dir, "input", "target", "SOTS", "dehaze", PairedFolder.HazeKey, null, problems));
                    break;
                case "deblur":
                    dir = ImageFiles.FindDirectory(root, "deblur");
                    if (dir is null) { Missing(task, Path.Combine(root, "deblur")); continue; }
                    sets.Add(Paired(dir, "input", "target", "GoPro", "deblur", null, null, problems));
                    break;
                case "lowlight":
                    dir = ImageFiles.FindDirectory(root, "lowlight", "low_light");
                    if (dir is null) { Missing(task, Path.Combine(root, "lowlight")); continue; }
                    sets.Add(Paired(dir, "low", "high", "LOL", "lowlight", null, null, problems));
                    break;
                default:
                    throw new DaRcotException($"Unknown test task '{task}'. Known: dehaze, derain, denoise, denoise_15, denoise_25, denoise_50, deblur, lowlight.");
            }
        }
        return sets;

        void Missing(string task, string path)
        {
            if (explicitTasks) throw new DaRcotException($"Test task '{task}': folder '{path}' does not exist.");
            problems?.Add($"{task}: '{path}' not found; skipped.");
        }
    }

    /// <summary>A paired test set from two folders matched by (normalised) stem.</summary>
    public static TestSet Paired(string dir, string inputSub, string targetSub, string name, string task,
        Func<string, string>? inputKey = null, Func<string, string>? targetKey = null, IList<string>? problems = null)
    {
        var inputDir = ImageFiles.FindDirectory(dir, inputSub) ?? throw new DaRcotException($"Folder '{Path.Combine(dir, inputSub)}' does not exist.");
        var targetDir = ImageFiles.FindDirectory(dir, targetSub) ?? throw new DaRcotException($"Folder '{Path.Combine(dir, targetSub)}' does not exist.");
        var report = PairedFolder.Match(inputDir, targetDir, FolderPairing.ByStem, inputKey, targetKey);
        if (!report.IsComplete) problems?.Add($"{name}: {report.Describe()}");
        var items = report.Pairs.Select(p => new TestItem(Path.GetFileName(p.InputPath), p.TargetPath, p.InputPath, null)).ToArray();
        return new TestSet(name, task, DegradationRegistry.GetTaskId(task), items);
    }

    /// <summary>A denoising test set: every image of <paramref name="cleanDir"/> with official Gaussian noise σ.</summary>
    public static TestSet Denoise(string cleanDir, string name, int sigma)
    {
        var noise = new GaussianNoise(sigma);
        var items = ImageFiles.List(cleanDir).Select((f, i) => new TestItem(Path.GetFileName(f), f, null, noise, DenoiseSeed + i)).ToArray();
        return new TestSet($"{name} σ={sigma}", noise.Name, noise.TaskId, items, IsDenoising: true);
    }

    /// <summary>A test set from a clean-only folder degraded on the fly with <paramref name="degradation"/> (seed + index).</summary>
    public static TestSet FromCleanFolder(string cleanDir, IDegradation degradation, string? name = null, long seed = DenoiseSeed)
    {
        ArgumentNullException.ThrowIfNull(degradation);
        var items = ImageFiles.List(cleanDir).Select((f, i) => new TestItem(Path.GetFileName(f), f, null, degradation, seed + i)).ToArray();
        return new TestSet(name ?? $"{Path.GetFileName(Path.TrimEndingDirectorySeparator(cleanDir))} ({degradation.Name})",
            degradation.Name, degradation.TaskId, items, IsDenoising: degradation is GaussianNoise);
    }
}
