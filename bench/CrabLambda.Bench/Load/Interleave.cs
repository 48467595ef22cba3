namespace CrabLambda.Bench.Load;

/// <summary>
/// Runs the rounds of a figure and of its floors in turn, swapping the order every round (A B, B A, …), so that a
/// drift of the machine during the run lands on all of them alike.
/// </summary>
internal static class Interleave
{
    public static async Task RunAsync(int rounds, params Func<Task>[] figures)
    {
        for (var round = 0; round < rounds; round++)
        {
            var order = round % 2 == 0 ? figures : figures.Reverse();
            foreach (var figure in order)
            {
                await figure();
            }
        }
    }
}
