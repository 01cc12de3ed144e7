using DaRcot.Rec.Data.Degradations;

namespace DaRcot.Rec.Data.Datasets;

/// <summary>Training sources from folders of clean images only, degraded on the fly by synthesisers.</summary>
public static class CleanFolderDataset
{
    /// <summary>
    /// One <see cref="TrainingItem"/> per (image, degradation): every image of <paramref name="cleanDirectory"/>
    /// under each of <paramref name="degradations"/> (their <see cref="IDegradation.TaskId"/> becomes the item's task).
    /// </summary>
    /// <param name="cleanDirectory">Clean images.</param>
    /// <param name="degradations">Synthesisers, e.g. from <see cref="DegradationRegistry.Create"/>.</param>
    /// <param name="recursive">Include sub-folders.</param>
    public static IReadOnlyList<TrainingItem> Build(string cleanDirectory, IEnumerable<IDegradation> degradations, bool recursive = false)
    {
        ArgumentNullException.ThrowIfNull(degradations);
        var files = ImageFiles.List(cleanDirectory, recursive);
        return degradations.SelectMany(d => files.Select(f => new TrainingItem(d.TaskId, f, null, d))).ToArray();
    }

    /// <summary><see cref="Build(string, IEnumerable{IDegradation}, bool)"/> with task names resolved by <see cref="DegradationRegistry.Create"/>.</summary>
    public static IReadOnlyList<TrainingItem> Build(string cleanDirectory, IEnumerable<string> taskNames, bool recursive = false) =>
        Build(cleanDirectory, taskNames.Select(DegradationRegistry.Create), recursive);
}
