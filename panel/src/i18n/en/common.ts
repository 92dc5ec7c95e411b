/** English texts shared by every part of the panel: times, buttons and the shared components. */
export default {
  time: {
    justNow: 'just now',
    secondsAgo: '{{n}} s ago',
    minutesAgo: '{{n}} min ago',
    hoursAgo: '{{n}} h ago',
    daysAgo: '{{n}} d ago',
    inSeconds: 'in {{n}} s',
    inMinutes: 'in {{n}} min',
    inTheFuture: 'in the future',
  },
};
