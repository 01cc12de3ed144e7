using DaRcot.Rec.Data.Degradations;

namespace DaRcot.Rec.Data.Datasets;

/// <summary>
/// One training source: a clean image and either its stored degraded version (<see cref="InputPath"/>) or a
/// synthesiser that degrades it on the fly (<see cref="Synthesis"/>).
/// </summary>
/// <param name="TaskId">Official task label (see <see cref="DegradationRegistry"/>).</param>
/// <param name="TargetPath">The clean image.</param>
/// <param name="InputPath">The degraded image, or null when <paramref name="Synthesis"/> produces it.</param>
/// <param name="Synthesis">The synthesiser for clean-only sources, or null for stored pairs.</param>
public sealed record TrainingItem(int TaskId, string TargetPath, string? InputPath, IDegradation? Synthesis)
{
    /// <summary>Whether the degraded image is synthesised (denoise, clean-only folders).</summary>
    public bool IsSynthetic => InputPath is null;
}

/// <summary>One test image: a stored pair, or a clean image degraded with a fixed seed.</summary>
/// <param name="Name">The file name used in reports.</param>
/// <param name="TargetPath">The reference image.</param>
/// <param name="InputPath">The degraded image, or null when <paramref name="Synthesis"/> produces it.</param>
/// <param name="Synthesis">The synthesiser for clean-only test sets (denoising), or null.</param>
/// <param name="Seed">The seed of the synthesis (fixed so every run degrades the test set identically).</param>
public sealed record TestItem(string Name, string TargetPath, string? InputPath, IDegradation? Synthesis, long Seed = 0);

/// <summary>A named test set of one task (a column of the paper's Tables I/II).</summary>
/// <param name="Name">Display name, e.g. <c>Rain100L</c> or <c>BSD68 σ=25</c>.</param>
/// <param name="Task">Task name (<c>derain</c>, <c>denoise_25</c>, ...).</param>
/// <param name="TaskId">Official task id.</param>
/// <param name="Items">The images.</param>
/// <param name="IsDenoising">When true, the official crop drops the first row and column of images whose sides are
/// not multiples of 4 (<c>tester_noise.py</c>) before cropping to multiples of 8.</param>
public sealed record TestSet(string Name, string Task, int TaskId, IReadOnlyList<TestItem> Items, bool IsDenoising = false);
