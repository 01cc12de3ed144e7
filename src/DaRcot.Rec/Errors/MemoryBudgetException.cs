namespace DaRcot.Rec.Errors;

/// <summary>
/// A restoration cannot fit in the memory budget (<c>RestorerOptions.MemoryBudgetBytes</c>): refused before the large
/// buffers are allocated, with the amount it would need.
/// </summary>
public sealed class MemoryBudgetException : DaRcotException
{
    /// <summary>Bytes the smallest workable plan needs.</summary>
    public long NeededBytes { get; }

    /// <summary>The budget in bytes.</summary>
    public long BudgetBytes { get; }

    /// <summary>Creates the exception.</summary>
    public MemoryBudgetException(string what, long neededBytes, long budgetBytes, string advice)
        : base($"{what} needs at least {Files.ByteSize.Format(neededBytes)} but the memory budget is {Files.ByteSize.Format(budgetBytes)}; {advice}")
    {
        NeededBytes = neededBytes;
        BudgetBytes = budgetBytes;
    }
}
