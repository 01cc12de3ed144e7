using DaRcot.Rec.Data.Degradations;
using DaRcot.Rec.Errors;

namespace DaRcot.Rec.Data.Datasets;

/// <summary>The training sources found by <see cref="OfficialTrainLayout.Build"/>.</summary>
/// <param name="Items">One entry per source (per repeat when repeats are applied).</param>
/// <param name="Problems">Sources skipped, with the reason (a listed file missing, a degraded image without clean image).</param>
public sealed record TrainingSetReport(IReadOnlyList<TrainingItem> Items, IReadOnlyList<string> Problems)
{
    /// <summary>Number of items per task id.</summary>
    public IReadOnlyDictionary<int, int> CountsPerTask => Items.GroupBy(i => i.TaskId).ToDictionary(g => g.Key, g => g.Count());
}

/// <summary>
/// The official training layout (DA-RCOT README, <c>util/universal_dataset.py</c>, spec §5.1) under a root such as
/// <c>data/Train</c>:
/// <code>
/// Denoise/                      clean images (BSD400 + WED), names listed in data_dir/noisy/denoise.txt
/// Derain/rainy/rain-N.png       listed in data_dir/rainy/rainTrain.txt as "rainy/rain-N.png"; clean: Derain/gt/norain-N.png
/// Dehaze/synthetic/partK/ID_a_b.jpg  listed in data_dir/hazy/hazy_outside.txt; clean: Dehaze/original/ID.jpg
/// Deblur/blur/X, Deblur/sharp/X     same names
/// lowlight/low/X, lowlight/high/X   same names (also accepted: low_light/)
/// single/degraded/X, single/target/X same names
/// </code>
/// </summary>
/// <remarks>
/// When a list file is absent (the lists live in the official repository's <c>data_dir/</c>), every image of the
/// corresponding folder is used instead (for dehaze, every image below <c>synthetic/</c>); this is reported in
/// <see cref="TrainingSetReport.Problems"/> so the difference is visible.
/// </remarks>
public static class OfficialTrainLayout
{
    /// <summary>The official per-task repeat factors (×5 per noise level, derain ×360, dehaze ×1, deblur ×35, lowlight ×150, single ×5).</summary>
    public static IReadOnlyDictionary<int, int> OfficialRepeats { get; } = new Dictionary<int, int>
    {
        [0] = 5, [1] = 5, [2] = 5, [3] = 360, [4] = 1, [5] = 35, [6] = 150, [7] = 5,
    };

    /// <summary>Collects the training sources of <paramref name="tasks"/>.</summary>
    /// <param name="trainRoot">The folder holding Denoise/, Derain/, Dehaze/, Deblur/, lowlight/, single/.</param>
    /// <param name="tasks">Official task names (denoise_15, denoise_25, denoise_50, derain, dehaze, deblur, lowlight, single).</param>
    /// <param name="dataFileDir">The folder with noisy/denoise.txt, rainy/rainTrain.txt, hazy/hazy_outside.txt (optional).</param>
    /// <param name="applyRepeats">Repeat each task's list by <see cref="OfficialRepeats"/> as the official dataset does
    /// (with the weighted sampler, use weights instead).</param>
    /// <exception cref="DaRcotException">An unknown task, or a task folder that does not exist.</exception>
    public static TrainingSetReport Build(string trainRoot, IEnumerable<string> tasks, string? dataFileDir = null, bool applyRepeats = false)
    {
        ArgumentNullException.ThrowIfNull(trainRoot);
        ArgumentNullException.ThrowIfNull(tasks);
        if (!Directory.Exists(trainRoot)) throw new DaRcotException($"Training folder '{trainRoot}' does not exist.");
        var items = new List<TrainingItem>();
        var problems = new List<string>();
        foreach (var task in tasks.Distinct(StringComparer.OrdinalIgnoreCase))
        {
            int id = DegradationRegistry.GetTaskId(task);
            List<TrainingItem> found = id switch
            {
                0 or 1 or 2 => Denoise(trainRoot, dataFileDir, id, problems),
                3 => Derain(trainRoot, dataFileDir, problems),
                4 => Dehaze(trainRoot, dataFileDir, problems),
                5 => SameNames(Require(trainRoot, task, "Deblur", "deblur"), "blur", "sharp", 5, problems),
                6 => SameNames(Require(trainRoot, task, "lowlight", "low_light", "LowLight"), "low", "high", 6, problems),
                7 => SameNames(Require(trainRoot, task, "single"), "degraded", "target", 7, problems),
                _ => throw new DaRcotException($"Task '{task}' has no official training layout."),
            };
            if (found.Count == 0) problems.Add($"task '{task}': no training images found.");
            int repeats = applyRepeats ? OfficialRepeats[id] : 1;
            for (int r = 0; r < repeats; r++) items.AddRange(found);
        }
        return new TrainingSetReport(items, problems);
    }

    private static string Require(string root, string task, params string[] names) =>
        ImageFiles.FindDirectory(root, names)
        ?? throw new DaRcotException($"Task '{task}': folder '{Path.Combine(root, names[0])}' does not exist.");

    private static string? ListFile(string? dataFileDir, string relative) =>
        dataFileDir is null ? null : Path.Combine(dataFileDir, relative) is var p && File.Exists(p) ? p : null;

    private static List<TrainingItem> Denoise(string root, string? dataFileDir, int id, List<string> problems)
    {
        var dir = Require(root, DegradationRegistry.GetTaskName(id), "Denoise", "denoise");
        var files = ImageFiles.List(dir);
        var list = ListFile(dataFileDir, Path.Combine("noisy", "denoise.txt"));
        if (list is not null)
        {
            var names = new HashSet<string>(File.ReadLines(list).Select(l => l.Trim()).Where(l => l.Length > 0), StringComparer.Ordinal);
            files = files.Where(f => names.Contains(Path.GetFileName(f))).ToArray();
        }
        else problems.Add($"denoise: no noisy/denoise.txt list; using all {files.Count} images in '{dir}'.");
        var synth = DegradationRegistry.Create(DegradationRegistry.GetTaskName(id));
        return files.Select(f => new TrainingItem(id, f, null, synth)).ToList();
    }

    private static List<TrainingItem> Derain(string root, string? dataFileDir, List<string> problems)
    {
        var dir = Require(root, "derain", "Derain", "derain");
        var list = ListFile(dataFileDir, Path.Combine("rainy", "rainTrain.txt"));
        IEnumerable<string> rainy;
        if (list is not null)
            rainy = File.ReadLines(list).Select(l => l.Trim()).Where(l => l.Length > 0).Select(l => Path.Combine(dir, l));
        else
        {
            var rainyDir = Path.Combine(dir, "rainy");
            rainy = Directory.Exists(rainyDir) ? ImageFiles.List(rainyDir) : Array.Empty<string>();
            problems.Add($"derain: no rainy/rainTrain.txt list; using every image in '{rainyDir}'.");
        }
        var items = new List<TrainingItem>();
        foreach (var input in rainy)
        {
            // Official: gt name = <dir>/gt/norain-<suffix after "rain-">.
            var name = Path.GetFileName(input);
            int at = name.LastIndexOf("rain-", StringComparison.Ordinal);
            var target = Path.Combine(dir, "gt", "norain-" + (at >= 0 ? name[(at + 5)..] : name));
            Add(items, problems, 3, input, target);
        }
        return items;
    }

    private static List<TrainingItem> Dehaze(string root, string? dataFileDir, List<string> problems)
    {
        var dir = Require(root, "dehaze", "Dehaze", "dehaze");
        var list = ListFile(dataFileDir, Path.Combine("hazy", "hazy_outside.txt"));
        IEnumerable<string> hazy;
        if (list is not null)
            hazy = File.ReadLines(list).Select(l => l.Trim()).Where(l => l.Length > 0).Select(l => Path.Combine(dir, l));
        else
        {
            var synthetic = Path.Combine(dir, "synthetic");
            hazy = Directory.Exists(synthetic) ? ImageFiles.List(synthetic, recursive: true) : Array.Empty<string>();
            problems.Add($"dehaze: no hazy/hazy_outside.txt list; using every image below '{synthetic}'.");
        }
        var items = new List<TrainingItem>();
        foreach (var input in hazy)
        {
            // Official: clean = <dir>/original/<ID><same extension>, ID = file name up to the first underscore.
            var name = Path.GetFileName(input);
            var target = Path.Combine(dir, "original", PairedFolder.HazeKey(Path.GetFileNameWithoutExtension(name)) + Path.GetExtension(name));
            Add(items, problems, 4, input, target);
        }
        return items;
    }

    private static List<TrainingItem> SameNames(string dir, string inputSub, string targetSub, int id, List<string> problems)
    {
        var inputDir = ImageFiles.FindDirectory(dir, inputSub) ?? throw new DaRcotException($"Folder '{Path.Combine(dir, inputSub)}' does not exist.");
        var targetDir = ImageFiles.FindDirectory(dir, targetSub) ?? throw new DaRcotException($"Folder '{Path.Combine(dir, targetSub)}' does not exist.");
        var report = PairedFolder.Match(inputDir, targetDir);
        if (!report.IsComplete) problems.Add(report.Describe());
        return report.Pairs.Select(p => new TrainingItem(id, p.TargetPath, p.InputPath, null)).ToList();
    }

    private static void Add(List<TrainingItem> items, List<string> problems, int id, string input, string target)
    {
        if (!File.Exists(input)) problems.Add($"listed degraded image '{input}' does not exist.");
        else if (!File.Exists(target)) problems.Add($"clean image '{target}' for '{input}' does not exist.");
        else items.Add(new TrainingItem(id, target, input, null));
    }
}
