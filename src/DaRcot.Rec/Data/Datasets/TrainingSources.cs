using DaRcot.Rec.Data.Degradations;
using DaRcot.Rec.Errors;

namespace DaRcot.Rec.Data.Datasets;

/// <summary>Finds training sources in a folder, whatever its layout.</summary>
public static class TrainingSources
{
    private static readonly string[] OfficialFolders = { "Denoise", "Derain", "Dehaze", "Deblur", "lowlight", "low_light", "single" };

    /// <summary>
    /// The training items of <paramref name="tasks"/> under <paramref name="root"/>: when the folder has the official
    /// training layout (any of Denoise/, Derain/, Dehaze/, Deblur/, lowlight/, single/), <see cref="OfficialTrainLayout.Build"/>;
    /// otherwise <paramref name="root"/> is taken as a folder of clean images (searched recursively) and every task is
    /// synthesised on the fly (<see cref="CleanFolderDataset"/>).
    /// </summary>
    /// <param name="root">The training folder.</param>
    /// <param name="tasks">Task names (official tasks, or any generator of <see cref="DegradationRegistry"/> for clean folders).</param>
    /// <param name="dataFileDir">The official list folder (data_dir/), optional.</param>
    /// <param name="applyRepeats">Apply the official per-task repeat factors (official layout only).</param>
    /// <exception cref="DaRcotException">The folder is missing, a task is unknown, or no images are found.</exception>
    public static TrainingSetReport FromDirectory(string root, IEnumerable<string> tasks, string? dataFileDir = null, bool applyRepeats = false)
    {
        ArgumentNullException.ThrowIfNull(root);
        ArgumentNullException.ThrowIfNull(tasks);
        var names = tasks.ToArray();
        if (names.Length == 0) throw new DaRcotException("No training tasks given.");
        if (!Directory.Exists(root)) throw new DaRcotException($"Training folder '{root}' does not exist.");
        var trainRoot = ImageFiles.FindDirectory(root, "Train", "train") ?? root;
        bool official = OfficialFolders.Any(f => ImageFiles.FindDirectory(trainRoot, f) is not null);
        TrainingSetReport report;
        if (official) report = OfficialTrainLayout.Build(trainRoot, names, dataFileDir, applyRepeats);
        else report = new TrainingSetReport(CleanFolderDataset.Build(root, names, recursive: true), Array.Empty<string>());
        if (report.Items.Count == 0)
            throw new DaRcotException($"No training images for {string.Join(", ", names)} under '{root}'." +
                (report.Problems.Count > 0 ? " " + string.Join(" ", report.Problems) : ""));
        return report;
    }
}
