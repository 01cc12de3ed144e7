namespace DaRcot.Rec.Tests.Infrastructure;

/// <summary>
/// Locates the team's shared fixtures (official parity outputs, metric references, photos).
/// <c>DARCOT_FIXTURES</c> overrides the default <c>../shared</c> next to the repository root. When the folder is
/// absent, tests that need it are skipped ("fixtures not found") unless <c>DARCOT_REQUIRE_FIXTURES=1</c>, in which
/// case they fail.
/// </summary>
public static class Fixtures
{
    private static readonly Lazy<string?> Root = new(Locate);

    /// <summary>The fixtures root, or null when not found.</summary>
    public static string? RootOrNull => Root.Value;

    /// <summary>True when <c>DARCOT_REQUIRE_FIXTURES=1</c>.</summary>
    public static bool Required => Environment.GetEnvironmentVariable("DARCOT_REQUIRE_FIXTURES") == "1";

    /// <summary>The repository root (the folder holding DaRcot.Rec.sln).</summary>
    public static string RepoRoot { get; } = FindRepoRoot();

    /// <summary>Returns the path of <paramref name="relative"/> under the fixtures root; skips or fails when absent.</summary>
    public static string Path(params string[] relative)
    {
        var root = Root.Value;
        if (root is null)
        {
            var where = Environment.GetEnvironmentVariable("DARCOT_FIXTURES") ?? System.IO.Path.Combine(RepoRoot, "..", "shared");
            if (Required) throw new InvalidOperationException($"Fixtures not found at '{where}' and DARCOT_REQUIRE_FIXTURES=1.");
            Skip.If(true, $"fixtures not found ({where})");
        }
        var full = System.IO.Path.Combine(new[] { root! }.Concat(relative).ToArray());
        if (!File.Exists(full) && !Directory.Exists(full))
        {
            if (Required) throw new FileNotFoundException($"Fixture '{full}' is missing and DARCOT_REQUIRE_FIXTURES=1.", full);
            Skip.If(true, $"fixtures not found ({full})");
        }
        return full;
    }

    private static string? Locate()
    {
        var env = Environment.GetEnvironmentVariable("DARCOT_FIXTURES");
        var candidate = !string.IsNullOrEmpty(env) ? env : System.IO.Path.Combine(RepoRoot, "..", "shared");
        return Directory.Exists(candidate) ? System.IO.Path.GetFullPath(candidate) : null;
    }

    private static string FindRepoRoot()
    {
        var stamped = typeof(Fixtures).Assembly.GetCustomAttributes(typeof(System.Reflection.AssemblyMetadataAttribute), false)
            .OfType<System.Reflection.AssemblyMetadataAttribute>().FirstOrDefault(a => a.Key == "DaRcotRepoRoot")?.Value;
        if (stamped is not null && File.Exists(System.IO.Path.Combine(stamped, "DaRcot.Rec.sln"))) return stamped;
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(System.IO.Path.Combine(dir.FullName, "DaRcot.Rec.sln"))) dir = dir.Parent;
        // Outputs may live outside the repository (DARCOT_ARTIFACTS); fall back to the working directory walk.
        if (dir is null)
        {
            dir = new DirectoryInfo(Directory.GetCurrentDirectory());
            while (dir is not null && !File.Exists(System.IO.Path.Combine(dir.FullName, "DaRcot.Rec.sln"))) dir = dir.Parent;
        }
        return dir?.FullName ?? Directory.GetCurrentDirectory();
    }
}
