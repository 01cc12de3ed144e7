using System.Diagnostics;
using DaRcot.Rec.Tests.Infrastructure;
using DaRcot.Rec.Tests.Training;

namespace DaRcot.Rec.Tests.Samples;

/// <summary>
/// The README's local-package recipe, as a user runs it: <c>dotnet pack</c> the library into a folder, point a new
/// console app's <c>nuget.config</c> at it, reference <c>DaRcot.Rec</c> + <c>TorchSharp-cpu</c>, and restore an image
/// with the bundled model. The package gets a unique version so the NuGet cache never serves an older build.
/// </summary>
[Collection(TrainerCollection.Name)]
public sealed class LocalPackageRecipeTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("darcot-package-").FullName;
    private readonly string _version = $"0.1.0-recipe.{DateTime.UtcNow:yyyyMMddHHmmss}.{Environment.ProcessId}";

    public void Dispose()
    {
        Directory.Delete(_dir, recursive: true);
        // Only this run's version of the package in the user's NuGet cache.
        var cached = Path.Combine(Environment.GetEnvironmentVariable("NUGET_PACKAGES")
            ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages"), "darcot.rec", _version);
        if (Directory.Exists(cached)) Directory.Delete(cached, recursive: true);
    }

    private static string Run(string workingDirectory, IDictionary<string, string>? environment, params string[] args)
    {
        var start = new ProcessStartInfo("dotnet", args)
        {
            WorkingDirectory = workingDirectory,
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        foreach (var (k, v) in environment ?? new Dictionary<string, string>()) start.Environment[k] = v;
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        Assert.True(process.WaitForExit(TimeSpan.FromMinutes(5)), $"dotnet {string.Join(' ', args)} did not finish in 5 minutes");
        Assert.True(process.ExitCode == 0, $"dotnet {string.Join(' ', args)} failed:\n{stdout.Result}\n{stderr.Result}");
        return stdout.Result;
    }

    [Fact]
    public void A_packed_library_restores_an_image_in_a_new_console_app()
    {
        var feed = Directory.CreateDirectory(Path.Combine(_dir, "feed")).FullName;
        // Built in a private artifacts folder so the repository's own build outputs are untouched.
        Run(Fixtures.RepoRoot, new Dictionary<string, string> { ["DARCOT_ARTIFACTS"] = Path.Combine(_dir, "artifacts") },
            "pack", "src/DaRcot.Rec/DaRcot.Rec.csproj", "-c", "Release", "-o", feed, $"-p:Version={_version}");
        Assert.True(File.Exists(Path.Combine(feed, $"DaRcot.Rec.{_version}.nupkg")));

        var app = Directory.CreateDirectory(Path.Combine(_dir, "app")).FullName;
        File.WriteAllText(Path.Combine(app, "nuget.config"), """
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources>
                <add key="darcot-local" value="../feed" />
              </packageSources>
            </configuration>
            """);
        File.WriteAllText(Path.Combine(app, "app.csproj"), $"""
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <OutputType>Exe</OutputType>
                <TargetFramework>net10.0</TargetFramework>
                <ImplicitUsings>enable</ImplicitUsings>
                <Nullable>enable</Nullable>
              </PropertyGroup>
              <ItemGroup>
                <PackageReference Include="DaRcot.Rec" Version="{_version}" />
                <PackageReference Include="TorchSharp-cpu" Version="0.107.0" />
              </ItemGroup>
            </Project>
            """);
        File.WriteAllText(Path.Combine(app, "Program.cs"), """
            using DaRcot.Rec.Inference;
            using static TorchSharp.torch;

            using var restorer = Restorer.LoadBundled();
            using var x = rand(1, 3, 20, 28);
            using var y = restorer.Restore(x);
            Console.WriteLine($"{restorer.Info.Arch} [{string.Join(", ", y.shape)}]");
            """);
        var output = Run(app, null, "run", "-c", "Release");
        Assert.Contains("bundled-nafnet-rec [1, 3, 20, 28]", output, StringComparison.Ordinal);
    }
}
