using DaRcot.Rec.Imaging;
using Spectre.Console;

namespace DaRcot.Cli;

/// <summary>Shows tile progress of one large image: a bar in a terminal, otherwise a line on stderr every 10%.</summary>
public static class TileProgressDisplay
{
    /// <summary>Runs <paramref name="work"/> with a progress sink for its tiles.</summary>
    public static void Run(string label, Action<IProgress<TileProgress>> work)
    {
        if (AnsiConsole.Profile.Capabilities.Interactive)
        {
            AnsiConsole.Progress()
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
                .Start(ctx =>
                {
                    var task = ctx.AddTask(Markup.Escape(label), maxValue: 1);
                    work(new SyncProgress<TileProgress>(p =>
                    {
                        task.MaxValue = p.Total;
                        task.Value = p.Done;
                    }));
                });
            return;
        }
        int lastTenth = -1;
        work(new SyncProgress<TileProgress>(p =>
        {
            int tenth = p.Done * 10 / Math.Max(1, p.Total);
            if (tenth == lastTenth || p.Total < 2) return;
            lastTenth = tenth;
            Console.Error.WriteLine($"{label}: tile {p.Done}/{p.Total}");
        }));
    }
}
